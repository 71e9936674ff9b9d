import fs from 'node:fs';
import { z } from 'zod';

/** The lab data center as a file: hosts, datastores, VMs with their disks, caches and workloads, proxies, clusters. */
const Mode = z.enum(['write-through', 'write-back']);

export const WorkloadSchema = z.object({
  /** Guest writes per second (KiB, lab clock). */
  rateKBps: z.number().min(0).max(1_048_576).default(64),
  pattern: z.enum(['random', 'sequential', 'hotspot']).default('random'),
  /** Size of one guest write (KiB, multiple of 4). */
  blockKiB: z.number().int().min(4).max(1024).default(16),
});
export type Workload = z.infer<typeof WorkloadSchema>;

export const VmSpecSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/),
  folder: z.string().startsWith('/').default('/'),
  tags: z.array(z.string()).default([]),
  host: z.string(),
  datastore: z.string(),
  disks: z
    .array(
      z.object({
        sizeMiB: z.number().int().min(8).max(4096),
        /** Share of the file system filled with files at creation. */
        fill: z.number().min(0).max(0.9).default(0.2),
        datastore: z.string().optional(),
      }),
    )
    .min(1)
    .max(4),
  guestOs: z.string().default('linux'),
  tools: z.boolean().default(true),
  applications: z.array(z.string()).default([]),
  /** The guest's quiesce is broken (VSS writer errors): quiesced snapshots fail. */
  quiesceBroken: z.boolean().default(false),
  acceleration: z.object({ mode: Mode, peers: z.number().int().min(0).max(2).default(0) }).default({ mode: 'write-through', peers: 0 }),
  workload: WorkloadSchema.default(WorkloadSchema.parse({})),
});
export type VmSpec = z.infer<typeof VmSpecSchema>;

export const TopologySchema = z.object({
  vcenter: z.object({ id: z.string(), name: z.string() }),
  clusters: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        drs: z.object({ enabled: z.boolean().default(true), meanIntervalSec: z.number().positive().default(300) }).default({ enabled: true, meanIntervalSec: 300 }),
        hosts: z
          .array(
            z.object({
              id: z.string(),
              name: z.string(),
              /** Bandwidth NBD reads get through this host. */
              networkMBps: z.number().positive().default(200),
              /** Rate at which the host's flash cache destages dirty data. */
              destageMBps: z.number().positive().default(16),
              /** Background destage leaves a write dirty for at least this long (write-back absorbs bursts). */
              destageDelaySec: z.number().min(0).default(15),
            }),
          )
          .min(1),
      }),
    )
    .min(1),
  datastores: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        kind: z.enum(['san', 'nfs']),
        capacityGiB: z.number().positive().default(2048),
        /** Rate at which a snapshot's redo log is merged back into the base disk. */
        consolidationMBps: z.number().positive().default(64),
      }),
    )
    .min(1),
  vms: z.array(VmSpecSchema).min(1),
  proxies: z
    .array(
      z.object({
        name: z.string(),
        kind: z.enum(['vm', 'physical']),
        /** VM proxies run on a host (their own small VM); physical ones are SAN-zoned. */
        host: z.string().optional(),
        datastore: z.string().optional(),
        transports: z.array(z.enum(['directsan', 'hotadd', 'nbd'])).min(1),
        sanDatastores: z.array(z.string()).default([]),
        maxTasks: z.number().int().min(1).max(64).default(4),
      }),
    )
    .default([]),
  failoverClusters: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        members: z.tuple([z.string(), z.string()]),
        active: z.string(),
        heartbeatDelayMs: z.number().int().min(100).max(60_000).default(1000),
        heartbeatThreshold: z.number().int().min(1).max(120).default(5),
      }),
    )
    .default([]),
  /** Proxy names the cache layer treats as backup proxies from the start. */
  blacklist: z.array(z.string()).default([]),
  snapshot: z
    .object({
      /** The last consolidation pass (run with the VM stunned) starts when the delta is at most this big. */
      stunPassMaxMiB: z.number().positive().default(16),
      maxPasses: z.number().int().min(1).max(50).default(8),
    })
    .default({ stunPassMaxMiB: 16, maxPasses: 8 }),
});
export type Topology = z.infer<typeof TopologySchema>;
export type TopologyInput = z.input<typeof TopologySchema>;

/** Checks names refer to things that exist. */
export function validateTopology(raw: unknown): Topology {
  const t = TopologySchema.parse(raw);
  const hosts = new Set(t.clusters.flatMap((c) => c.hosts.map((h) => h.id)));
  const ds = new Set(t.datastores.map((d) => d.id));
  const vms = new Set(t.vms.map((v) => v.name));
  const problems: string[] = [];
  if (vms.size !== t.vms.length) problems.push('VM names must be unique');
  for (const v of t.vms) {
    if (!hosts.has(v.host)) problems.push(`VM ${v.name}: unknown host ${v.host}`);
    for (const d of [v.datastore, ...v.disks.map((x) => x.datastore).filter(Boolean)]) if (!ds.has(d!)) problems.push(`VM ${v.name}: unknown datastore ${d}`);
  }
  for (const p of t.proxies) {
    if (p.kind === 'vm' && (!p.host || !hosts.has(p.host))) problems.push(`proxy ${p.name}: a VM proxy needs a known host`);
    if (vms.has(p.name)) problems.push(`proxy ${p.name}: name clashes with a VM`);
    for (const d of p.sanDatastores) if (!ds.has(d)) problems.push(`proxy ${p.name}: unknown datastore ${d}`);
  }
  for (const f of t.failoverClusters) {
    for (const m of f.members) if (!vms.has(m)) problems.push(`failover cluster ${f.id}: unknown member ${m}`);
    if (!f.members.includes(f.active)) problems.push(`failover cluster ${f.id}: the active node must be a member`);
  }
  for (const b of t.blacklist) if (!t.proxies.some((p) => p.name === b)) problems.push(`blacklist: unknown proxy ${b}`);
  if (problems.length) throw new Error(`invalid lab topology:\n  ${problems.join('\n  ')}`);
  return t;
}

export function loadTopologyFile(file: string): Topology {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read lab topology ${file}: ${(e as Error).message}`);
  }
  const obj = raw as { topology?: unknown };
  return validateTopology(obj.topology ?? raw);
}

const wb = (peers: number) => ({ mode: 'write-back' as const, peers });
const wt = { mode: 'write-through' as const, peers: 0 };

/** The built-in lab: 1 vCenter, a cluster of 3 hosts, a SAN and an NFS datastore, 13 VMs, 3 proxies, a database availability group. */
export const DEFAULT_TOPOLOGY: TopologyInput = {
  vcenter: { id: 'vc-lab', name: 'vcenter.lab.local' },
  clusters: [
    {
      id: 'cl-prod',
      name: 'Production',
      drs: { enabled: true, meanIntervalSec: 240 },
      hosts: [
        { id: 'esx-01', name: 'esx-01.lab.local', networkMBps: 200, destageMBps: 16 },
        { id: 'esx-02', name: 'esx-02.lab.local', networkMBps: 200, destageMBps: 16 },
        { id: 'esx-03', name: 'esx-03.lab.local', networkMBps: 200, destageMBps: 16 },
      ],
    },
  ],
  datastores: [
    { id: 'san-01', name: 'san-01', kind: 'san', capacityGiB: 4096, consolidationMBps: 64 },
    { id: 'nfs-01', name: 'nfs-01', kind: 'nfs', capacityGiB: 8192, consolidationMBps: 48 },
  ],
  vms: [
    { name: 'web-01', folder: '/prod/web', tags: ['web', 'tier2'], host: 'esx-01', datastore: 'san-01', disks: [{ sizeMiB: 128, fill: 0.3 }], applications: [], acceleration: wb(1), workload: { rateKBps: 64, pattern: 'random', blockKiB: 16 } },
    { name: 'web-02', folder: '/prod/web', tags: ['web', 'tier2'], host: 'esx-02', datastore: 'san-01', disks: [{ sizeMiB: 128, fill: 0.3 }], acceleration: wb(1), workload: { rateKBps: 64, pattern: 'random', blockKiB: 16 } },
    { name: 'web-03', folder: '/prod/web', tags: ['web', 'tier2'], host: 'esx-03', datastore: 'san-01', disks: [{ sizeMiB: 128, fill: 0.3 }], acceleration: wb(0), workload: { rateKBps: 64, pattern: 'hotspot', blockKiB: 16 } },
    { name: 'app-01', folder: '/prod/app', tags: ['app', 'tier1'], host: 'esx-01', datastore: 'san-01', disks: [{ sizeMiB: 256, fill: 0.25 }, { sizeMiB: 64, fill: 0.4 }], applications: ['tomcat'], acceleration: wb(0), workload: { rateKBps: 128, pattern: 'random', blockKiB: 32 } },
    { name: 'app-02', folder: '/prod/app', tags: ['app', 'tier1'], host: 'esx-02', datastore: 'san-01', disks: [{ sizeMiB: 256, fill: 0.25 }, { sizeMiB: 64, fill: 0.4 }], applications: ['tomcat'], acceleration: wb(1), workload: { rateKBps: 128, pattern: 'random', blockKiB: 32 } },
    { name: 'db-01', folder: '/prod/db', tags: ['db', 'tier1', 'sql'], host: 'esx-01', datastore: 'san-01', disks: [{ sizeMiB: 256, fill: 0.3 }, { sizeMiB: 512, fill: 0.2, datastore: 'nfs-01' }], applications: ['sql'], acceleration: wb(1), workload: { rateKBps: 256, pattern: 'hotspot', blockKiB: 8 } },
    { name: 'db-02', folder: '/prod/db', tags: ['db', 'tier1', 'sql'], host: 'esx-02', datastore: 'san-01', disks: [{ sizeMiB: 256, fill: 0.3 }, { sizeMiB: 512, fill: 0.2, datastore: 'nfs-01' }], applications: ['sql'], acceleration: wb(1), workload: { rateKBps: 192, pattern: 'hotspot', blockKiB: 8 } },
    { name: 'mail-01', folder: '/prod/mail', tags: ['mail', 'tier1'], host: 'esx-03', datastore: 'san-01', disks: [{ sizeMiB: 256, fill: 0.35 }], applications: ['exchange'], acceleration: wb(2), workload: { rateKBps: 128, pattern: 'sequential', blockKiB: 32 } },
    { name: 'file-01', folder: '/prod/file', tags: ['file', 'tier2'], host: 'esx-03', datastore: 'nfs-01', disks: [{ sizeMiB: 512, fill: 0.3 }], acceleration: wt, workload: { rateKBps: 128, pattern: 'sequential', blockKiB: 64 } },
    { name: 'dc-01', folder: '/infra', tags: ['infra', 'tier1'], host: 'esx-01', datastore: 'san-01', disks: [{ sizeMiB: 128, fill: 0.3 }], applications: ['ad'], acceleration: wt, workload: { rateKBps: 32, pattern: 'random', blockKiB: 8 } },
    { name: 'mon-01', folder: '/infra', tags: ['infra', 'tier3'], host: 'esx-02', datastore: 'san-01', disks: [{ sizeMiB: 128, fill: 0.25 }], acceleration: wb(1), workload: { rateKBps: 96, pattern: 'sequential', blockKiB: 16 } },
    { name: 'build-01', folder: '/dev', tags: ['dev', 'tier3'], host: 'esx-03', datastore: 'san-01', disks: [{ sizeMiB: 256, fill: 0.3 }], tools: false, acceleration: wb(0), workload: { rateKBps: 128, pattern: 'random', blockKiB: 64 } },
    { name: 'test-01', folder: '/dev', tags: ['dev', 'tier3'], host: 'esx-01', datastore: 'san-01', disks: [{ sizeMiB: 128, fill: 0.2 }], quiesceBroken: true, acceleration: wb(0), workload: { rateKBps: 64, pattern: 'random', blockKiB: 16 } },
  ],
  proxies: [
    { name: 'proxy-01', kind: 'vm', host: 'esx-01', datastore: 'san-01', transports: ['hotadd', 'nbd'], maxTasks: 4 },
    { name: 'proxy-02', kind: 'vm', host: 'esx-02', datastore: 'san-01', transports: ['hotadd', 'nbd'], maxTasks: 4 },
    { name: 'phys-proxy-01', kind: 'physical', transports: ['directsan', 'nbd'], sanDatastores: ['san-01'], maxTasks: 6 },
  ],
  failoverClusters: [{ id: 'dag-01', name: 'DAG-01', members: ['db-01', 'db-02'], active: 'db-01', heartbeatDelayMs: 1000, heartbeatThreshold: 5 }],
  blacklist: ['proxy-01'],
  snapshot: { stunPassMaxMiB: 16, maxPasses: 8 },
};
