/**
 * Top self-time functions of a V8 CPU profile (`node --cpu-prof`), and self time by package.
 *
 *   npx tsx bench/profile-summary.ts bench/results/profiles/airlock-pglite.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
};
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type ProfileEntry = { name: string; location: string; selfMs: number; selfPct: number };
export type ProfileSummary = {
  totalMs: number;
  idlePct: number;
  /** Functions by self time. */
  top: ProfileEntry[];
  /** Self time by package (node_modules/<pkg>) or project folder. */
  byPackage: ProfileEntry[];
  /** Project functions (server/, db/, app/) by inclusive time: what Airlock's own code costs with the libraries it calls. */
  projectInclusive: ProfileEntry[];
};

const root = resolve(import.meta.dirname, '..');

function shortLocation(url: string, line: number): string {
  if (!url) return '';
  let path = url.replace(/^file:\/\//, '');
  if (path.startsWith(root)) path = path.slice(root.length + 1);
  return `${path.replace(/^node_modules\//, '~/')}:${line + 1}`;
}

/** The package (or project folder) a script belongs to: where the time is spent, coarsely. */
/** Airlock's own code: the server modules, the database layer, the console's compiled routes. */
function isProject(url: string): boolean {
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(root) && !path.includes('/node_modules/') && !path.includes('/bench/') && !path.includes('/.next/server/chunks/');
}

function packageOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const path = url.replace(/^file:\/\//, '');
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (match) return match[1];
  if (path.startsWith('node:')) return 'node core';
  if (path.startsWith(root))
    return path
      .slice(root.length + 1)
      .split('/')
      .slice(0, 2)
      .join('/');
  return path;
}

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = profile.endTime - profile.startTime;
  const byFunction = new Map<string, ProfileEntry>();
  const byPackage = new Map<string, ProfileEntry>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = nodes.get(id)!;
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const location = shortLocation(callFrame.url, callFrame.lineNumber);
    const key = `${name}@${location}`;
    const entry = byFunction.get(key) ?? { name, location, selfMs: 0, selfPct: 0 };
    entry.selfMs += us / 1000;
    byFunction.set(key, entry);
    const pkg = packageOf(callFrame.url, name);
    const p = byPackage.get(pkg) ?? { name: pkg, location: '', selfMs: 0, selfPct: 0 };
    p.selfMs += us / 1000;
    byPackage.set(pkg, p);
  }
  // inclusive time of project functions: each sample counts once per distinct function on its stack
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, ProfileEntry>();
  const stackKeys = new Map<number, string[]>();
  const projectKeysOf = (id: number): string[] => {
    let keys = stackKeys.get(id);
    if (keys) return keys;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { callFrame } = nodes.get(at)!;
      if (!isProject(callFrame.url)) continue;
      const key = `${callFrame.functionName || '(anonymous)'}@${shortLocation(callFrame.url, callFrame.lineNumber)}`;
      if (!seen.has(key)) {
        seen.add(key);
        if (!inclusive.has(key))
          inclusive.set(key, {
            name: callFrame.functionName || '(anonymous)',
            location: shortLocation(callFrame.url, callFrame.lineNumber),
            selfMs: 0,
            selfPct: 0,
          });
      }
    }
    keys = [...seen];
    stackKeys.set(id, keys);
    return keys;
  };
  for (const [id, us] of selfUs) {
    for (const key of projectKeysOf(id)) inclusive.get(key)!.selfMs += us / 1000;
  }
  const busy = (total - idle) / 1000;
  const finish = (entries: Iterable<ProfileEntry>) =>
    [...entries]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map((e) => ({ ...e, selfMs: Math.round(e.selfMs * 10) / 10, selfPct: Math.round((e.selfMs / busy) * 1000) / 10 }));
  return {
    totalMs: total / 1000,
    idlePct: (idle / total) * 100,
    top: finish(byFunction.values()),
    byPackage: finish(byPackage.values()),
    projectInclusive: finish(inclusive.values()),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const summary = summarizeProfile(file, Number(n) || 25);
  console.log(`${(summary.totalMs / 1000).toFixed(1)} s sampled, ${summary.idlePct.toFixed(0)}% idle; % of busy time\n`);
  console.log('self ms   self %  function  location');
  for (const e of summary.top)
    console.log(`${e.selfMs.toFixed(0).padStart(7)}  ${e.selfPct.toFixed(1).padStart(6)}  ${e.name}  ${e.location}`);
  console.log('\nproject functions by inclusive time (with the libraries they call)');
  for (const e of summary.projectInclusive)
    console.log(`${e.selfMs.toFixed(0).padStart(7)}  ${e.selfPct.toFixed(1).padStart(6)}  ${e.name}  ${e.location}`);
  console.log('\nby package / folder');
  for (const e of summary.byPackage) console.log(`${e.selfMs.toFixed(0).padStart(7)}  ${e.selfPct.toFixed(1).padStart(6)}  ${e.name}`);
}
