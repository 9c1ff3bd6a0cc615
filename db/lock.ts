import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `the embedded database in ${dir} is in use by process ${pid}; stop that process, or set DATABASE_URL to share a PostgreSQL database between processes`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const enoent = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/** The pid a lock file names: null when it is gone, 0 when it names none (a corrupt file, stale). */
function holderOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
  } catch (error) {
    if (enoent(error)) return null;
    throw error;
  }
}

/**
 * PGlite is one process only: claim the data directory with a pid file, like postmaster.pid.
 * The file is written whole under a name of its own and hard-linked into place, so it never
 * exists half-written and of processes starting together exactly one creates it. A lock whose
 * process is gone is moved aside (a rename: of several processes, one moves it) and checked
 * before it is dropped, so a fresh lock another process made meanwhile is put back, not lost.
 * Returns the function that releases it.
 */
export function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const lockFile = join(dir, 'airlock.pid');
  const mine = String(process.pid);
  const draft = join(dir, `airlock.pid.${mine}.${randomBytes(6).toString('hex')}`);
  writeFileSync(draft, mine, { flag: 'wx' });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(draft, lockFile);
        return () => {
          try {
            if (holderOf(lockFile) === process.pid) rmSync(lockFile);
          } catch {}
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = holderOf(lockFile);
      if (holder === null) continue; // released meanwhile
      if (holder !== process.pid && isAlive(holder)) throw new DataDirLockedError(dir, holder);
      const aside = `${draft}.stale`;
      try {
        renameSync(lockFile, aside);
      } catch (error) {
        if (enoent(error)) continue; // another process moved it first
        throw error;
      }
      const moved = holderOf(aside);
      if (moved !== null && moved !== holder && moved !== process.pid && isAlive(moved)) {
        // not the stale lock but one made since by a live process: it goes back
        try {
          linkSync(aside, lockFile);
        } catch {}
        rmSync(aside, { force: true });
        throw new DataDirLockedError(dir, moved);
      }
      rmSync(aside, { force: true });
    }
    throw new Error(`could not lock ${dir}: its lock file keeps changing`);
  } finally {
    rmSync(draft, { force: true });
  }
}
