import type { TopologyInput } from './topology';

/** A small data center: two hosts, SAN + NFS, VMs with each cache policy, three proxies, a failover pair. */
export const TEST_TOPOLOGY: TopologyInput = {
  vcenter: { id: 'vc', name: 'vc.test' },
  clusters: [
    {
      id: 'cl',
      name: 'Test',
      drs: { enabled: false, meanIntervalSec: 3600 },
      hosts: [
        { id: 'h1', name: 'h1', networkMBps: 400, destageMBps: 8, destageDelaySec: 100_000 },
        { id: 'h2', name: 'h2', networkMBps: 400, destageMBps: 8, destageDelaySec: 100_000 },
      ],
    },
  ],
  datastores: [
    { id: 'san', name: 'san', kind: 'san', consolidationMBps: 4 },
    { id: 'nfs', name: 'nfs', kind: 'nfs', consolidationMBps: 4 },
  ],
  vms: [
    { name: 'wb0', host: 'h1', datastore: 'san', disks: [{ sizeMiB: 16, fill: 0.2 }], acceleration: { mode: 'write-back', peers: 0 }, workload: { rateKBps: 0, pattern: 'random', blockKiB: 4 } },
    { name: 'wb1', host: 'h1', datastore: 'san', disks: [{ sizeMiB: 16, fill: 0.2 }], acceleration: { mode: 'write-back', peers: 1 }, workload: { rateKBps: 0, pattern: 'random', blockKiB: 4 } },
    { name: 'wt', host: 'h2', datastore: 'nfs', disks: [{ sizeMiB: 16, fill: 0.2 }, { sizeMiB: 8, fill: 0.1 }], acceleration: { mode: 'write-through', peers: 0 }, workload: { rateKBps: 0, pattern: 'random', blockKiB: 4 } },
    { name: 'sql-a', host: 'h1', datastore: 'san', disks: [{ sizeMiB: 16, fill: 0.1 }], applications: ['sql'], acceleration: { mode: 'write-through', peers: 0 }, workload: { rateKBps: 0, pattern: 'random', blockKiB: 4 } },
    { name: 'sql-b', host: 'h2', datastore: 'san', disks: [{ sizeMiB: 16, fill: 0.1 }], applications: ['sql'], acceleration: { mode: 'write-through', peers: 0 }, workload: { rateKBps: 0, pattern: 'random', blockKiB: 4 } },
    { name: 'notools', host: 'h2', datastore: 'san', disks: [{ sizeMiB: 8, fill: 0.1 }], tools: false, workload: { rateKBps: 0, pattern: 'random', blockKiB: 4 } },
  ],
  proxies: [
    { name: 'pv1', kind: 'vm', host: 'h1', datastore: 'san', transports: ['hotadd', 'nbd'], maxTasks: 2 },
    { name: 'pv2', kind: 'vm', host: 'h2', datastore: 'san', transports: ['hotadd', 'nbd'], maxTasks: 2 },
    { name: 'phys', kind: 'physical', transports: ['directsan', 'nbd'], sanDatastores: ['san'], maxTasks: 4 },
  ],
  failoverClusters: [{ id: 'dag', name: 'DAG', members: ['sql-a', 'sql-b'], active: 'sql-a', heartbeatDelayMs: 1000, heartbeatThreshold: 5 }],
  blacklist: [],
  snapshot: { stunPassMaxMiB: 1, maxPasses: 3 },
};
