import { describe, expect, it } from 'vitest';
import type { ProxyInfo } from '@/server/connectors/types';
import { chooseTransport } from './transport';

const proxy = (p: Partial<ProxyInfo> & Pick<ProxyInfo, 'id' | 'name'>): ProxyInfo => ({
  kind: 'vm',
  vmId: null,
  uuid: null,
  hostId: 'h1',
  transports: ['hotadd', 'nbd'],
  sanDatastoreIds: [],
  maxTasks: 4,
  activeTasks: 0,
  cpuUsagePct: 10,
  memoryUsagePct: 10,
  ...p,
});

const base = {
  vm: { id: 'vm1', name: 'db-01', hostId: 'h1', clusterId: 'c1', disks: [{ index: 0, label: 'd0', sizeBytes: 1, datastoreId: 'san' }] },
  hosts: [
    { id: 'h1', clusterId: 'c1', state: 'connected' as const },
    { id: 'h9', clusterId: 'other', state: 'connected' as const },
  ],
  datastores: [{ id: 'san', name: 'san-01', kind: 'san' as const }],
};

describe('chooseTransport', () => {
  it('takes the first mode of the order that some proxy can serve', () => {
    const phys = proxy({ id: 'p', name: 'phys', kind: 'physical', hostId: null, transports: ['directsan', 'nbd'], sanDatastoreIds: ['san'] });
    const r = chooseTransport({ ...base, proxies: [phys, proxy({ id: 'v', name: 'vm-proxy' })], order: ['directsan', 'hotadd', 'nbd'] });
    expect(r).toMatchObject({ transport: 'directsan', proxy: { id: 'p' } });
  });
  it('falls back and says why when DirectSAN cannot reach the datastore', () => {
    const phys = proxy({ id: 'p', name: 'phys', kind: 'physical', hostId: null, transports: ['directsan', 'nbd'], sanDatastoreIds: [] });
    const r = chooseTransport({ ...base, proxies: [phys, proxy({ id: 'v', name: 'vm-proxy' })], order: ['directsan', 'hotadd', 'nbd'] });
    expect(r).toMatchObject({ transport: 'hotadd', proxy: { id: 'v' } });
    expect('reasons' in r && r.reasons[0]).toMatch(/phys is not zoned to san-01/);
  });
  it('refuses HotAdd proxies outside the VM cluster and prefers the least loaded', () => {
    const far = proxy({ id: 'far', name: 'far', hostId: 'h9' });
    const busy = proxy({ id: 'busy', name: 'busy', activeTasks: 3 });
    const idle = proxy({ id: 'idle', name: 'idle', activeTasks: 0 });
    const r = chooseTransport({ ...base, proxies: [far, busy, idle], order: ['hotadd'] });
    expect(r).toMatchObject({ transport: 'hotadd', proxy: { id: 'idle' } });
  });
  it('reports an error when nothing can read the VM', () => {
    const r = chooseTransport({ ...base, proxies: [], order: ['directsan', 'hotadd'] });
    expect(r).toMatchObject({ error: expect.stringMatching(/no transport/) });
  });
});
