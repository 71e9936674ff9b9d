import { recordAudit } from '@/server/audit/record';
import { defineStep, stepResult } from '../../define';
import { NonRetryableError } from '../../retry';
import { estimateSnapshotLifetimeMs, predictStun } from '../../stun';
import type { BackupVmJobInput } from '../schemas';
import type { LeaseResult } from './lease';
import type { PlanResult } from './plan';
import { failoverClusterOf, raisedThreshold } from './snapshot-removal';

/** Rough read rates per transport, for the snapshot-lifetime estimate of the stun guard. */
const READ_RATE: Record<string, number> = { directsan: 400e6, hotadd: 300e6, nbd: 100e6 };

export interface PrecheckResult {
  [k: string]: unknown;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
  predictedStunMs: number | null;
  toleranceMs: number | null;
}

/**
 * Fails early, with what to do, when the backup cannot be consistent or safe: a HotAdd proxy that
 * the cache layer does not know as a proxy, a cluster member whose consolidation stun would exceed
 * its heartbeat tolerance, a quiesce the guest cannot give.
 */
export const precheck = defineStep<BackupVmJobInput>({
  name: 'precheck',
  async run(ctx): Promise<PrecheckResult> {
    const p = stepResult<PlanResult>(ctx.results, 'plan');
    const l = stepResult<LeaseResult>(ctx.results, 'lease');
    const { hypervisor, cache, guest } = ctx.deps.connectors;
    const checks: PrecheckResult['checks'] = [];

    if (p.settings.quiesce === 'required') {
      const cap = await guest.quiesceCapability(p.vm.id);
      if (!cap.canQuiesce) throw new NonRetryableError(`The policy requires an application-consistent snapshot but ${p.vm.name} cannot quiesce: ${cap.reason ?? 'no guest tools'}`, 'PRECONDITION_FAILED');
      checks.push({ name: 'quiesce', ok: true, detail: `guest can quiesce (${cap.applications.join(', ') || 'file systems'})` });
    }

    const writeBack = p.cachePolicy?.mode === 'write-back';
    if (p.coordination && l.transport === 'hotadd' && writeBack && l.proxyUuid) {
      const listed = (await cache.listBlacklist()).some((b) => b.uuid === l.proxyUuid);
      if (!listed) {
        if (!p.settings.allowBlacklistAdd) {
          throw new NonRetryableError(
            `HotAdd proxy ${l.proxyName} is not on the cache blacklist, so its reads of write-back ${p.vm.name} would miss dirty data. Add it on the Proxies page (quiesce blacklist add --proxy ${l.proxyName}) or let the policy add proxies itself`,
            'PRECONDITION_FAILED',
          );
        }
        await cache.addToBlacklist({ uuid: l.proxyUuid, name: l.proxyName ?? l.proxyUuid });
        await recordAudit(ctx.service, { action: 'blacklist.add', targetKind: 'proxy', targetId: l.proxyUuid, targetName: l.proxyName, details: { reason: `HotAdd of write-back VM ${p.vm.name}; the policy allows the engine to add proxies` } });
        checks.push({ name: 'blacklist', ok: true, detail: `added ${l.proxyName} to the cache blacklist (policy allows it)` });
      } else checks.push({ name: 'blacklist', ok: true, detail: `${l.proxyName} is on the cache blacklist` });
    }

    let predictedStunMs: number | null = null;
    let toleranceMs: number | null = null;
    const cluster = p.coordination ? await failoverClusterOf(ctx, p) : null;
    if (cluster) {
      const model = hypervisor.snapshotCostModel ? await hypervisor.snapshotCostModel(p.vm.id) : null;
      if (model) {
        const bytes = p.vm.disks.reduce((a, d) => a + d.sizeBytes, 0) * (p.parent ? 0.25 : 1);
        const pred = predictStun(model, estimateSnapshotLifetimeMs(bytes, READ_RATE[l.transport] ?? 100e6));
        predictedStunMs = pred.stunMs;
      }
      const threshold = p.settings.raiseHeartbeatThreshold ? raisedThreshold(cluster, predictedStunMs) : cluster.heartbeatThreshold;
      toleranceMs = cluster.heartbeatDelayMs * threshold;
      if (predictedStunMs !== null && predictedStunMs >= toleranceMs) {
        throw new NonRetryableError(
          `${p.vm.name} is a member of ${cluster.name}: its predicted consolidation stun (${predictedStunMs} ms) reaches the cluster's heartbeat tolerance (${toleranceMs} ms) and would cause a failover. Back it up when it writes less, or let the policy raise the heartbeat threshold during consolidation`,
          'PRECONDITION_FAILED',
        );
      }
      checks.push({ name: 'stun', ok: true, detail: predictedStunMs === null ? `no stun estimate; tolerance ${toleranceMs} ms` : `predicted stun ${predictedStunMs} ms < tolerance ${toleranceMs} ms` });
    }
    if (checks.length) await ctx.log('info', `Pre-checks passed: ${checks.map((c) => c.detail).join('; ')}`);
    return { checks, predictedStunMs, toleranceMs };
  },
});
