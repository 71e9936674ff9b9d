import type { Extent, HypervisorConnector } from '@/server/connectors/types';
import { NonRetryableError } from '../../retry';
import type { BackupDiskInput } from '@/server/repository/types';
import { defineStep, stepResult } from '../../define';
import type { BackupVmJobInput } from '../schemas';
import type { LeaseResult } from './lease';
import type { PlanResult } from './plan';
import type { SnapshotResult } from './snapshot';

export interface TransferDiskResult {
  index: number;
  full: boolean;
  reason: string | null;
  changeId: string;
  sizeBytes: number;
  bytesRead: number;
  changedBytes: number;
}

export interface TransferResult {
  [k: string]: unknown;
  pointId: string;
  full: boolean;
  logicalBytes: number;
  bytesRead: number;
  storedBytesAdded: number;
  seconds: number;
  disks: TransferDiskResult[];
}

/**
 * A host crash can take dirty write-back data of the frozen image with it while the snapshot is
 * read (a VM without cache peers): what was read is then not what the guest saw. No restore point
 * is written for it; the saga removes the snapshot and the next run takes a new one.
 */
async function refuseLostWrites(hypervisor: HypervisorConnector, vmId: string, snapshotId: string, vmName: string): Promise<void> {
  const info = (await hypervisor.listSnapshots(vmId)).find((s) => s.id === snapshotId);
  if (info?.lostWrites)
    throw new NonRetryableError(
      `The host of ${vmName} crashed while its snapshot was read and took unwritten write-back cache data of the snapshot with it: the data read is not the point-in-time image, so no restore point was written`,
      'SNAPSHOT_DAMAGED',
    );
}

/** The restore point id of a job: a retried transfer writes (or finds) the same manifest. */
export function pointIdFor(jobId: string): string {
  return `rp-${jobId}`;
}

const sum = (extents: Extent[]) => extents.reduce((a, [, l]) => a + l, 0);

/** Read what changed since the parent (all of it on the first run or after a CBT reset) into the repository. */
export const transfer = defineStep<BackupVmJobInput>({
  name: 'transfer',
  retry: { maxAttempts: 2 },
  async run(ctx): Promise<TransferResult> {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const { snapshot: snap } = stepResult<SnapshotResult>(ctx.results, 'snapshot');
    const l = stepResult<LeaseResult>(ctx.results, 'lease');
    const { hypervisor } = ctx.deps.connectors;
    const repo = await ctx.deps.storage.repository(p.storageUnitId);
    const pointId = pointIdFor(ctx.jobId);

    const existing = await repo.getPoint(pointId).catch(() => null);
    const disksOut: TransferDiskResult[] = [];
    const readers: Array<{ close(): Promise<void> }> = [];
    try {
      const inputs: BackupDiskInput[] = [];
      for (const d of snap.disks) {
        const parentDisk = p.parent?.disks.find((x) => x.index === d.index);
        let changed: Extent[] | undefined;
        let full = true;
        let reason: string | null = p.parent ? null : 'first backup of this VM';
        if (parentDisk?.changeId && parentDisk.sizeBytes === d.sizeBytes) {
          const c = await hypervisor.queryChangedExtents({ snapshotId: snap.id, diskIndex: d.index, sinceChangeId: parentDisk.changeId });
          if (c.fullReadRequired) reason = `changed-block tracking cannot answer: ${c.reason ?? 'reset'}`;
          else {
            changed = c.extents;
            full = false;
          }
        } else if (p.parent) reason = parentDisk ? 'the disk changed size' : 'new disk';
        const reader = await hypervisor.openDisk({ snapshotId: snap.id, diskIndex: d.index, transport: l.transport, proxyId: l.proxyId, idempotencyKey: `${ctx.idempotencyKey}:${d.index}` });
        readers.push(reader);
        inputs.push({ index: d.index, label: p.vm.disks.find((x) => x.index === d.index)?.label ?? `disk${d.index}`, source: reader, ...(changed ? { changedExtents: changed } : {}) });
        disksOut.push({ index: d.index, full, reason, changeId: d.changeId, sizeBytes: d.sizeBytes, bytesRead: 0, changedBytes: changed ? sum(changed) : d.sizeBytes });
        if (reason) await ctx.log(full ? 'warn' : 'info', `Disk ${d.index}: full read (${reason})`);
      }
      // Disks with changed extents take unchanged regions from the parent; the others are read in
      // full and compared with the parent (unchanged chunks recognised by hash).
      const parentPointId = p.parent?.pointId ?? null;
      const total = inputs.reduce((a, i) => a + (i.changedExtents ? sum(i.changedExtents) : i.source.sizeBytes), 0);
      ctx.progress({ phase: 'transfer', bytesTotal: total, bytesDone: 0, startedAt: ctx.clock.now() });
      const started = Date.now();
      const result = existing
        ? null
        : await repo.backup({
            series: p.vm.uuid,
            parentPointId,
            pointId,
            disks: inputs,
            signal: ctx.signal,
            meta: {
              kind: 'vm',
              vmId: p.vm.id,
              vmUuid: p.vm.uuid,
              vmName: p.vm.name,
              jobId: ctx.jobId,
              snapshotId: snap.id,
              snapshotAt: snap.createdAt,
              consistency: snap.consistency,
              transport: l.transport,
              proxy: l.proxyName,
              changeIds: Object.fromEntries(snap.disks.map((d) => [d.index, d.changeId])),
            },
            onProgress: (pr) => ctx.progress({ phase: 'transfer', bytesTotal: pr.bytesTotal, bytesDone: pr.bytesDone, bytesRead: pr.bytesRead, bytesStored: pr.storedBytesAdded }),
            beforeCommit: () => refuseLostWrites(hypervisor, p.vm.id, snap.id, p.vm.name),
          });
      if (existing) await ctx.log('info', `Restore point ${pointId} was already written before a restart; reusing it`);
      for (const d of disksOut) d.bytesRead = result?.disks.find((x) => x.index === d.index)?.bytesRead ?? 0;
      const out: TransferResult = {
        pointId,
        full: disksOut.every((d) => d.full),
        logicalBytes: result?.logicalBytes ?? existing?.logicalBytes ?? 0,
        bytesRead: result?.bytesRead ?? 0,
        storedBytesAdded: result?.storedBytesAdded ?? 0,
        seconds: result?.seconds ?? (Date.now() - started) / 1000,
        disks: disksOut,
      };
      ctx.progress({ phase: 'transfer', bytesTotal: total, bytesDone: total, bytesRead: out.bytesRead, bytesStored: out.storedBytesAdded });
      await ctx.log('info', `Transferred ${out.bytesRead} bytes read, ${out.storedBytesAdded} bytes stored into ${pointId}`, {
        bytesRead: out.bytesRead,
        storedBytesAdded: out.storedBytesAdded,
        seconds: out.seconds,
      });
      return out;
    } finally {
      await Promise.allSettled(readers.map((r) => r.close()));
    }
  },
});
