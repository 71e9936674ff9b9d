#!/usr/bin/env node
// `npm run bench:repo -- --corpus DIR [--vms 8] [--disk-mib 1024] [--runs 5] [--anchor-runs 3] [--skip-anchors] [--keep]`
//
// The data plane side by side with restic and borg (Debian packages), on the same VM-disk corpus
// (../shared/bench/make-corpus.mjs), on the same machine, in one run:
//   full backup (day 0) → mutate one day (2 %, seed 43) → incremental by changed extents (ours),
//   incremental by full re-read (ours, restic, borg) → restore (sha256-checked) → verify (ours).
// Prints a table of throughput, repo bytes, added bytes and peak RSS with ratios against restic
// and borg, and writes the same as JSON under bench-results/. Figures are ratios measured in the
// same run: the machines are shared and noisy. The incrementals are each run several times from the
// same day-0 repository (a fresh copy each time) and reported by their median: ours take under a
// second, so one sample is one moment of the neighbours' load (restic's twenty seconds average it).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    corpus: { type: 'string' },
    vms: { type: 'string', default: '8' },
    'disk-mib': { type: 'string', default: '1024' },
    'make-corpus': { type: 'string' },
    'skip-anchors': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    work: { type: 'string' },
    runs: { type: 'string', default: '5' },
    'anchor-runs': { type: 'string', default: '3' },
  },
});
if (!opt.corpus) {
  console.error('usage: npm run bench:repo -- --corpus DIR [--vms 8] [--disk-mib 1024] [--runs 5] [--anchor-runs 3] [--skip-anchors] [--keep]');
  process.exit(2);
}
const runsOf = (name) => {
  const n = Number(opt[name]);
  if (!Number.isInteger(n) || n < 1 || n > 50) {
    console.error(`--${name} must be a whole number from 1 to 50 (got ${opt[name]})`);
    process.exit(2);
  }
  return n;
};
const RUNS = runsOf('runs');
const ANCHOR_RUNS = runsOf('anchor-runs');
const corpus = path.resolve(opt.corpus);
const makeCorpus = opt['make-corpus'] ? path.resolve(opt['make-corpus']) : path.resolve(root, '..', 'shared', 'bench', 'make-corpus.mjs');
if (!fs.existsSync(makeCorpus)) {
  console.error(`cannot find make-corpus.mjs at ${makeCorpus} (give --make-corpus PATH)`);
  process.exit(2);
}
const need = ['/usr/bin/time', ...(opt['skip-anchors'] ? [] : ['restic', 'borg'])];
for (const c of need) {
  if (spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0) {
    console.error(`missing ${c} (apt-get install -y restic borgbackup time)`);
    process.exit(2);
  }
}

const say = (s) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const work = opt.work ? path.resolve(opt.work) : fs.mkdtempSync(path.join(path.dirname(corpus), 'bench-work-'));
fs.mkdirSync(work, { recursive: true });
const cli = path.join(root, 'bin', 'quiesce.mjs');
const disks = () =>
  fs
    .readdirSync(corpus)
    .filter((d) => /^vm\d+$/.test(d))
    .sort()
    .map((d) => ({ name: d, file: path.join(corpus, d, 'disk0.raw'), changed: path.join(corpus, d, 'disk0.changed.json') }));
const du = (p) => Number(execFileSync('du', ['-sb', p]).toString().split('\t')[0]);
const prep = (files) => {
  execFileSync('sync');
  for (const f of files) execFileSync('cat', [f], { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 << 30 });
};
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));

/** Runs a command under /usr/bin/time -v: wall seconds, peak RSS, stdout. */
function measure(cmd, args, env = {}) {
  const tf = path.join(work, 'time.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', '-o', tf, cmd, ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    console.error(r.stdout?.toString().slice(-2000), r.stderr?.toString().slice(-4000));
    throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed (${r.status})`);
  }
  // How long its writes took to reach the disk after it returned (untimed; run-anchors.sh's sync_s).
  const s0 = process.hrtime.bigint();
  execFileSync('sync');
  const sync = Number(process.hrtime.bigint() - s0) / 1e9;
  const t = fs.readFileSync(tf, 'utf8');
  const rssKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(t)?.[1] ?? 0);
  // CPU seconds (user + system, all threads): what the work cost, whatever the wall clock says.
  const sys = Number(/System time \(seconds\): ([\d.]+)/.exec(t)?.[1] ?? 0);
  const cpu = Number(/User time \(seconds\): ([\d.]+)/.exec(t)?.[1] ?? 0) + sys;
  // Kernel time and minor faults show when the machine, not the program, is slow (page faults
  // cost a host fault on these VMs; they rise after heavy I/O).
  const minorFaults = Number(/Minor \(reclaiming a frame\) page faults: (\d+)/.exec(t)?.[1] ?? 0);
  return { wall, sync, rss: rssKiB * 1024, cpu, sys, minorFaults, stdout: r.stdout.toString() };
}

/**
 * An incremental `runs` times, each from a fresh copy of the same starting state (`dirs`: the
 * repository and whatever else the tool keeps, copied to `<dir>.run`): the median wall and CPU
 * seconds, the largest RSS, every sample. The last run's copies replace the originals, so what
 * follows (restore, verify) sees the incremental.
 */
function measureRuns(runs, dirs, cmd, args, env = {}) {
  const samples = [];
  let addedBytes = 0;
  for (let i = 0; i < runs; i++) {
    for (const d of dirs) {
      fs.rmSync(`${d}.run`, { recursive: true, force: true });
      if (fs.existsSync(d)) execFileSync('cp', ['-a', d, `${d}.run`]);
    }
    const before = du(`${dirs[0]}.run`);
    prep(files.map((d) => d.file));
    samples.push(measure(cmd, args(`${dirs[0]}.run`), env));
    addedBytes = du(`${dirs[0]}.run`) - before;
  }
  for (const d of dirs) {
    fs.rmSync(d, { recursive: true, force: true });
    if (fs.existsSync(`${d}.run`)) fs.renameSync(`${d}.run`, d);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const m = { wall: median(samples.map((x) => x.wall)), sync: median(samples.map((x) => x.sync)), cpu: median(samples.map((x) => x.cpu)), sys: median(samples.map((x) => x.sys)), minorFaults: median(samples.map((x) => x.minorFaults)), rss: Math.max(...samples.map((x) => x.rss)) };
  return { m, extra: { addedBytes, runs, samples: samples.map((x) => Number(x.wall.toFixed(3))) } };
}

// ------------------------------------------------------------------------------------ corpus
const manifest = path.join(corpus, 'corpus-manifest.json');
const mutated = fs.existsSync(manifest) && disks().some((d) => fs.existsSync(d.changed));
if (!fs.existsSync(manifest) || mutated) {
  say(`${mutated ? 're' : ''}generating the corpus in ${corpus} (${opt.vms} × ${opt['disk-mib']} MiB, seed 42)`);
  if (mutated) fs.rmSync(corpus, { recursive: true, force: true });
  fs.mkdirSync(corpus, { recursive: true });
  execFileSync(process.execPath, [makeCorpus, corpus, '--vms', opt.vms, '--disk-mib', opt['disk-mib'], '--seed', '42', '--quiet'], { stdio: 'inherit' });
}
const files = disks();
const input = files.reduce((a, d) => a + fs.statSync(d.file).size, 0);
const results = { env: { node: process.version, cores: os.availableParallelism(), vms: files.length, inputBytes: input, at: new Date().toISOString() }, rows: {} };
const row = (tool, op, m, extra = {}) => {
  results.rows[`${tool} ${op}`] = { tool, op, seconds: m.wall, syncSeconds: m.sync, cpuSeconds: m.cpu, sysSeconds: m.sys, minorFaults: m.minorFaults, mbps: input / 1e6 / m.wall, rss: m.rss, ...extra };
  say(`${tool} ${op}: ${m.wall.toFixed(2)} s, ${(input / 1e6 / m.wall).toFixed(0)} MB/s, RSS ${(m.rss / 2 ** 20).toFixed(0)} MiB ${JSON.stringify(extra)}`);
};

// ------------------------------------------------------------------------------------ day 0
const ours = path.join(work, 'quiesce-repo');
execFileSync(process.execPath, [cli, 'repo', 'init', '--path', ours]);
prep(files.map((d) => d.file));
let m = measure(process.execPath, [cli, 'image', 'backup', '--repo', ours, '--json', ...files.map((d) => `${d.name}=${d.file}`)]);
row('quiesce', 'full', m, { repoBytes: du(ours) });

const resticRepo = path.join(work, 'restic');
const borgRepo = path.join(work, 'borg');
const anchorsEnv = { RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: path.join(work, 'restic-cache'), BORG_BASE_DIR: path.join(work, 'borg-base'), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' };
if (!opt['skip-anchors']) {
  execFileSync('restic', ['-r', resticRepo, 'init'], { env: { ...process.env, ...anchorsEnv }, stdio: 'ignore' });
  prep(files.map((d) => d.file));
  m = measure('restic', ['-r', resticRepo, 'backup', '--host', 'bench', corpus], anchorsEnv);
  row('restic', 'full', m, { repoBytes: du(resticRepo) });
  execFileSync('borg', ['init', '-e', 'none', borgRepo], { env: { ...process.env, ...anchorsEnv }, stdio: 'ignore' });
  prep(files.map((d) => d.file));
  m = measure('borg', ['create', `${borgRepo}::full`, corpus], anchorsEnv);
  row('borg', 'full', m, { repoBytes: du(borgRepo) });
}

// A copy of our day-0 repository for the full re-read incremental (the extents one gets the original).
const oursReread = path.join(work, 'quiesce-repo-reread');
execFileSync('cp', ['-a', ours, oursReread]);

// ------------------------------------------------------------------------------------ day 1
say('mutating the corpus (0.02, seed 43)');
execFileSync(process.execPath, [makeCorpus, corpus, '--mutate', '0.02', '--seed', '43', '--quiet'], { stdio: 'inherit' });
const sums = new Map(files.map((d) => [d.name, execFileSync('sha256sum', [d.file]).toString().split(' ')[0]]));

let r = measureRuns(RUNS, [ours], process.execPath, (repo) => [cli, 'image', 'backup', '--repo', repo, '--json', ...files.map((d) => `${d.name}=${d.file}@${d.changed}`)]);
row('quiesce', 'incremental (changed extents)', r.m, r.extra);
r = measureRuns(RUNS, [oursReread], process.execPath, (repo) => [cli, 'image', 'backup', '--repo', repo, '--json', ...files.map((d) => `${d.name}=${d.file}`)]);
row('quiesce', 'incremental (full re-read)', r.m, r.extra);
let before;
if (!opt['skip-anchors']) {
  // restic's cache goes with its repository copy (it is pruned to what the repository holds).
  r = measureRuns(ANCHOR_RUNS, [resticRepo, anchorsEnv.RESTIC_CACHE_DIR], 'restic', (repo) => ['-r', repo, 'backup', '--host', 'bench', corpus], { ...anchorsEnv, RESTIC_CACHE_DIR: `${anchorsEnv.RESTIC_CACHE_DIR}.run` });
  row('restic', 'incremental', r.m, r.extra);
  before = du(borgRepo);
  prep(files.map((d) => d.file));
  m = measure('borg', ['create', `${borgRepo}::incr`, corpus], anchorsEnv);
  row('borg', 'incremental', m, { addedBytes: du(borgRepo) - before });
}

// ------------------------------------------------------------------------------------ restore, verify
const check = (dir, rel) => files.every((d) => execFileSync('sha256sum', [path.join(dir, rel(d))]).toString().split(' ')[0] === sums.get(d.name));
const out = path.join(work, 'restore');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out);
prep(walk(ours));
m = measure(process.execPath, [cli, 'image', 'restore', '--repo', ours, '--json', ...files.map((d) => `${d.name}=${path.join(out, `${d.name}.raw`)}`)]);
row('quiesce', 'restore', m, { verified: check(out, (d) => `${d.name}.raw`) });
fs.rmSync(out, { recursive: true, force: true });
prep(walk(ours));
m = measure(process.execPath, [cli, 'repo', 'verify', '--repo', ours, '--json']);
const v = JSON.parse(m.stdout.trim().split('\n').pop());
results.rows['quiesce verify'] = { tool: 'quiesce', op: 'verify', seconds: m.wall, syncSeconds: m.sync, cpuSeconds: m.cpu, sysSeconds: m.sys, minorFaults: m.minorFaults, mbps: v.bytesChecked / 1e6 / m.wall, rss: m.rss, ok: v.ok, bytesChecked: v.bytesChecked };
say(`quiesce verify: ${m.wall.toFixed(2)} s, ${(v.bytesChecked / 1e6 / m.wall).toFixed(0)} MB/s of chunk data, ok=${v.ok}`);
if (!opt['skip-anchors']) {
  fs.mkdirSync(out);
  prep(walk(resticRepo));
  m = measure('restic', ['-r', resticRepo, 'restore', 'latest', '--target', out], anchorsEnv);
  row('restic', 'restore', m, { verified: check(path.join(out, corpus), (d) => path.join(d.name, 'disk0.raw')) });
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out);
  prep(walk(borgRepo));
  m = measure('env', ['-C', out, 'borg', 'extract', `${borgRepo}::incr`], anchorsEnv);
  row('borg', 'restore', m, { verified: check(path.join(out, corpus), (d) => path.join(d.name, 'disk0.raw')) });
  fs.rmSync(out, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------ report
const R = results.rows;
const ratio = (a, b) => (a && b ? a / b : null);
const speed = (ours, anchor) => ratio(R[anchor]?.seconds, R[ours]?.seconds);
/** A step's seconds until its bytes are on the disk: its own and its sync's. */
const untilDurable = (key) => R[key] && R[key].seconds + R[key].syncSeconds;
const lines = [
  ['measurement', 'seconds', 'sync s', 'CPU s', 'MB/s', 'repo / added bytes', 'peak RSS', '× restic', '× borg'],
  ...Object.values(R).map((r) => {
    const anchorOp = r.op.startsWith('incremental') ? 'incremental' : r.op;
    const bytes = r.repoBytes ?? r.addedBytes;
    return [
      `${r.tool} ${r.op}`,
      r.seconds.toFixed(2),
      r.syncSeconds.toFixed(2),
      r.cpuSeconds.toFixed(1),
      r.mbps.toFixed(0),
      bytes !== undefined ? `${(bytes / 1e6).toFixed(0)} MB` : '',
      `${(r.rss / 2 ** 20).toFixed(0)} MiB`,
      r.tool === 'quiesce' && R[`restic ${anchorOp}`] ? speed(`${r.tool} ${r.op}`, `restic ${anchorOp}`).toFixed(2) : '',
      r.tool === 'quiesce' && R[`borg ${anchorOp}`] ? speed(`${r.tool} ${r.op}`, `borg ${anchorOp}`).toFixed(2) : '',
    ];
  }),
];
const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
const table = lines.map((l) => l.map((c, i) => String(c).padEnd(widths[i])).join('  ')).join('\n');
results.targets = {
  fullSpeedVsRestic: speed('quiesce full', 'restic full'),
  fullRepoBytesVsRestic: ratio(R['quiesce full']?.repoBytes, R['restic full']?.repoBytes),
  extentsIncrementalSpeedVsRestic: speed('quiesce incremental (changed extents)', 'restic incremental'),
  extentsAddedBytesVsRestic: ratio(R['quiesce incremental (changed extents)']?.addedBytes, R['restic incremental']?.addedBytes),
  rereadIncrementalSpeedVsRestic: speed('quiesce incremental (full re-read)', 'restic incremental'),
  restoreSpeedVsRestic: speed('quiesce restore', 'restic restore'),
  // The same, each restore counted until its bytes are on the disk.
  durableRestoreSpeedVsRestic: ratio(untilDurable('restic restore'), untilDurable('quiesce restore')),
  verifyGBps: R['quiesce verify'] ? R['quiesce verify'].mbps / 1000 : null,
  peakRssGiB: Math.max(...Object.values(R).filter((r) => r.tool === 'quiesce').map((r) => r.rss)) / 2 ** 30,
};
console.log(table);
console.log(JSON.stringify(results.targets, null, 2));
fs.mkdirSync(path.join(root, 'bench-results'), { recursive: true });
const file = path.join(root, 'bench-results', `repo-${results.env.at.replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, `${JSON.stringify({ ...results, table }, null, 2)}\n`);
say(`wrote ${file}`);
if (!opt.keep) fs.rmSync(work, { recursive: true, force: true });
