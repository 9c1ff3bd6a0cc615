import type { Executor } from '../../db/database';
import { type AuditEvent, auditHash, GENESIS_HASH } from './append';
import { readAuditInOrder } from './read';

/**
 * The outcome of checking the chain. On success `lastHash` is the head of the chain:
 * compare it with an earlier copy (a checkpoint) to detect rows cut off the end, which a
 * chain alone cannot reveal. On failure `count` is the number of rows verified before `seq`.
 */
export type VerifyResult = { ok: true; count: number; lastHash: string } | { ok: false; count: number; seq: number; reason: string };

type Failure = Extract<VerifyResult, { ok: false }>;

/**
 * A row's hash as recorded earlier (what `audit verify` printed as the head, kept elsewhere):
 * a chain alone cannot reveal rows cut off its end, or a log rewritten from the start, but
 * it must still pass through this row with this hash.
 */
export type Checkpoint = { seq: number; hash: string };

/** Parse `SEQ:HASH` (as `audit verify` prints them; the chain starts at row 1); null when malformed. */
export function parseCheckpoint(text: string): Checkpoint | null {
  const match = /^([1-9]\d{0,15}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { seq: Number(match[1]), hash: match[2] } : null;
}

export type VerifyOptions = { checkpoint?: Checkpoint };

/** Checks rows one at a time, in chain order, remembering only the previous row. */
function chainChecker({ checkpoint }: VerifyOptions = {}) {
  let prev = { seq: 0, hash: GENESIS_HASH };
  let count = 0;
  const fail = (seq: number, reason: string): Failure => ({ ok: false, count, seq, reason });
  return {
    check(row: AuditEvent): Failure | null {
      const expected = prev.seq + 1;
      if (row.seq < 1) return fail(row.seq, `row ${row.seq}: the chain starts at row 1 (a row inserted before it?)`);
      if (row.seq > expected) return fail(expected, `row ${expected} missing (deleted?)`);
      if (row.seq !== expected) return fail(row.seq, `row ${row.seq} out of order (expected row ${expected})`);
      if (row.prevHash !== prev.hash) {
        return expected === 1
          ? fail(1, 'row 1: prev_hash is not the genesis hash (rows before it deleted?)')
          : fail(row.seq, `row ${row.seq}: prev_hash does not match row ${prev.seq} (reordered or deleted?)`);
      }
      if (row.hash !== auditHash(row)) return fail(row.seq, `row ${row.seq}: hash does not match its content (edited?)`);
      if (checkpoint?.seq === row.seq && row.hash !== checkpoint.hash) {
        return fail(row.seq, `row ${row.seq}: hash differs from the checkpoint (the log was rewritten up to here?)`);
      }
      prev = row;
      count += 1;
      return null;
    },
    /** A failure at the row expected next, for input that is not a row at all. */
    failNext: (reason: string) => fail(prev.seq + 1, reason),
    done: (): VerifyResult =>
      checkpoint && prev.seq < checkpoint.seq
        ? fail(prev.seq + 1, `the log ends at row ${prev.seq}, before the checkpoint's row ${checkpoint.seq} (rows cut off the end?)`)
        : { ok: true, count, lastHash: prev.hash },
  };
}

/**
 * Verify the audit chain in the database (invariant 5): seq is dense from 1, each
 * prev_hash is the previous row's hash, and each hash matches its row. Reports the
 * first bad row. Reads in pages, so it runs in constant memory on any size of log.
 */
export async function verifyAudit(db: Executor, options: VerifyOptions & { pageSize?: number } = {}): Promise<VerifyResult> {
  const checker = chainChecker(options);
  for await (const row of readAuditInOrder(db, options.pageSize)) {
    const failure = checker.check(row);
    if (failure) return failure;
  }
  return checker.done();
}

/**
 * Verify an export made by `exportAudit` without the database, e.g.
 * `verifyAuditExport(readline.createInterface({ input: createReadStream(file) }))`.
 */
export async function verifyAuditExport(
  lines: AsyncIterable<string> | Iterable<string>,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const checker = chainChecker(options);
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    const row = parseExportLine(line);
    if (!row) return checker.failNext(`line ${lineNumber}: not an audit event`);
    const failure = checker.check(row);
    if (failure) return failure;
  }
  return checker.done();
}

function parseExportLine(line: string): AuditEvent | null {
  try {
    const row = JSON.parse(line) as AuditEvent & { at: string };
    const at = new Date(row.at);
    if (typeof row.seq !== 'number' || typeof row.hash !== 'string' || Number.isNaN(at.getTime())) return null;
    return { ...row, at };
  } catch {
    return null;
  }
}
