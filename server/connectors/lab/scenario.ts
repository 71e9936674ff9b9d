import fs from 'node:fs';
import { z } from 'zod';
import { pick, rngFor } from '@/server/lib/random';
import { DEFAULT_TOPOLOGY, TopologySchema, validateTopology, type Topology, type TopologyInput } from './topology';

/** Something that happens in the lab at a lab time (ms after the lab started). */
export const ScheduledEventSchema = z.discriminatedUnion('kind', [
  z.object({ atMs: z.number().min(0), kind: z.literal('drs-move'), clusterId: z.string(), pickVm: z.number().min(0).max(1), pickHost: z.number().min(0).max(1) }),
  z.object({ atMs: z.number().min(0), kind: z.literal('host-crash'), hostId: z.string(), downMs: z.number().min(1000) }),
  z.object({ atMs: z.number().min(0), kind: z.literal('quiesce-failure'), vm: z.string().nullable(), count: z.number().int().min(1) }),
  z.object({ atMs: z.number().min(0), kind: z.literal('cbt-reset'), vm: z.string(), disk: z.number().int().min(0).nullable() }),
  z.object({ atMs: z.number().min(0), kind: z.literal('slow-destage'), hostId: z.string(), factor: z.number().positive().max(1), forMs: z.number().min(1000) }),
  z.object({ atMs: z.number().min(0), kind: z.literal('slow-network'), hostId: z.string(), factor: z.number().positive().max(1), forMs: z.number().min(1000) }),
  z.object({ atMs: z.number().min(0), kind: z.literal('burst-writes'), vm: z.string(), factor: z.number().min(1).max(1000), forMs: z.number().min(1000) }),
  z.object({ atMs: z.number().min(0), kind: z.literal('resize-disk'), vm: z.string(), disk: z.number().int().min(0), addMiB: z.number().int().min(1).max(1024) }),
]);
export type ScheduledEvent = z.infer<typeof ScheduledEventSchema>;

export const ScenarioSchema = z.object({
  topology: TopologySchema.optional(),
  /** Faults and moves at fixed lab times. With `drs: 'seeded'` the lab also draws DRS moves from its seed. */
  schedule: z.array(ScheduledEventSchema).default([]),
  drs: z.enum(['seeded', 'schedule-only', 'off']).default('seeded'),
});
export type Scenario = { topology: Topology; schedule: ScheduledEvent[]; drs: 'seeded' | 'schedule-only' | 'off' };

/** A topology file, or a scenario file (topology + fault schedule). */
export function loadScenarioFile(file: string): Scenario {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read lab scenario ${file}: ${(e as Error).message}`);
  }
  const obj = raw as Record<string, unknown>;
  if (obj.vms) return { topology: validateTopology(raw), schedule: [], drs: 'seeded' };
  const s = ScenarioSchema.parse(raw);
  return { topology: validateTopology(s.topology ?? DEFAULT_TOPOLOGY), schedule: [...s.schedule].sort((a, b) => a.atMs - b.atMs), drs: s.drs };
}

export function defaultScenario(): Scenario {
  return { topology: validateTopology(DEFAULT_TOPOLOGY), schedule: [], drs: 'seeded' };
}

/**
 * The chaos harness's data center for a seed: write-back caching on most VMs (with 0–2 peers),
 * busier guests, seeded DRS moves and faults (host crash, quiesce failures, CBT resets, slow
 * destage, write bursts) over `minutes`. The same seed gives the same scenario.
 */
export function chaosScenario(seed: number, minutes: number): Scenario {
  const rand = rngFor(seed, 'chaos-scenario');
  const base = structuredClone(DEFAULT_TOPOLOGY) as TopologyInput;
  for (const vm of base.vms) {
    const r = rand();
    vm.acceleration = r < 0.8 ? { mode: 'write-back', peers: pick(rand, [0, 1, 1, 2]) } : { mode: 'write-through', peers: 0 };
    const w = vm.workload ?? {};
    vm.workload = { rateKBps: Math.round((w.rateKBps ?? 64) * (1.5 + rand() * 2)), pattern: w.pattern ?? 'random', blockKiB: Math.max(16, w.blockKiB ?? 16) };
  }
  for (const c of base.clusters) for (const h of c.hosts) h.destageMBps = 2 + Math.floor(rand() * 4);
  const topology = validateTopology(base);
  const hosts = topology.clusters.flatMap((c) => c.hosts.map((h) => h.id));
  const vms = topology.vms.map((v) => v.name);
  const span = minutes * 60_000;
  const schedule: ScheduledEvent[] = [];
  for (const c of topology.clusters) {
    for (let t = 30_000 + rand() * 60_000; t < span; t += 45_000 + rand() * 90_000) schedule.push({ atMs: Math.round(t), kind: 'drs-move', clusterId: c.id, pickVm: rand(), pickHost: rand() });
  }
  const at = () => Math.round(span * (0.1 + rand() * 0.8));
  if (minutes >= 10) schedule.push({ atMs: at(), kind: 'host-crash', hostId: pick(rand, hosts), downMs: 60_000 + Math.round(rand() * 120_000) });
  for (let i = 0; i < 2; i++) schedule.push({ atMs: at(), kind: 'quiesce-failure', vm: pick(rand, vms), count: 1 + Math.floor(rand() * 2) });
  for (let i = 0; i < 2; i++) schedule.push({ atMs: at(), kind: 'cbt-reset', vm: pick(rand, vms), disk: null });
  schedule.push({ atMs: at(), kind: 'slow-destage', hostId: pick(rand, hosts), factor: 0.2, forMs: 120_000 });
  for (let i = 0; i < 3; i++) schedule.push({ atMs: at(), kind: 'burst-writes', vm: pick(rand, vms), factor: 4 + Math.round(rand() * 8), forMs: 30_000 + Math.round(rand() * 60_000) });
  schedule.sort((a, b) => a.atMs - b.atMs);
  return { topology, schedule, drs: 'schedule-only' };
}
