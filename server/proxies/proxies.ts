import { recordAudit } from '@/server/audit/record';
import type { ProxyInfo } from '@/server/connectors/types';
import { requireRole, type ServiceContext } from '@/server/context';
import { usage } from '@/server/engine/leases';
import { NotFoundError, PreconditionError, ValidationError } from '@/server/errors';
import { BlacklistAddInput, BlacklistRemoveInput } from './schemas';

export interface ProxyView extends ProxyInfo {
  /** Whether the cache layer has this proxy (by VM UUID) on its blacklist. */
  blacklisted: boolean;
  /** Task slots the engine holds on it right now. */
  leasedTasks: number;
  warnings: string[];
}

/** Proxies with their load and whether the cache layer treats them as backup proxies. */
export async function listProxies({ ctx }: { ctx: ServiceContext }): Promise<ProxyView[]> {
  requireRole(ctx, 'viewer');
  const [proxies, blacklist, leased] = await Promise.all([ctx.deps.connectors.hypervisor.listProxies(), ctx.deps.connectors.cache.listBlacklist(), usage(ctx.db, 'proxy:')]);
  const listed = new Set(blacklist.map((b) => b.uuid));
  return proxies
    .map((p) => {
      const blacklisted = p.uuid !== null && listed.has(p.uuid);
      const warnings: string[] = [];
      if (p.transports.includes('hotadd') && p.kind === 'vm' && !blacklisted) {
        warnings.push('HotAdd-capable but not on the cache blacklist: its reads of write-back VMs miss dirty data and pollute its host cache');
      }
      return { ...p, blacklisted, leasedTasks: leased.get(`proxy:${p.id}`) ?? 0, warnings };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

async function findProxy(ctx: ServiceContext, ref: string): Promise<ProxyInfo> {
  const proxies = await ctx.deps.connectors.hypervisor.listProxies();
  const p = proxies.find((x) => x.name === ref || x.id === ref || x.uuid === ref);
  if (!p) throw new NotFoundError('Proxy', ref, { known: proxies.map((x) => x.name) });
  return p;
}

export async function addProxyToBlacklist({ ctx, input }: { ctx: ServiceContext; input: BlacklistAddInput }) {
  requireRole(ctx, 'admin');
  const { proxy: ref } = BlacklistAddInput.parse(input);
  const p = await findProxy(ctx, ref);
  if (p.kind !== 'vm' || !p.uuid) throw new PreconditionError(`${p.name} is a physical proxy: the cache blacklist holds proxy VMs (by UUID)`);
  await ctx.deps.connectors.cache.addToBlacklist({ uuid: p.uuid, name: p.name });
  await recordAudit(ctx, { action: 'blacklist.add', targetKind: 'proxy', targetId: p.uuid, targetName: p.name });
  return { proxy: p.name, uuid: p.uuid, blacklisted: true };
}

export async function removeProxyFromBlacklist({ ctx, input }: { ctx: ServiceContext; input: BlacklistRemoveInput }) {
  requireRole(ctx, 'admin');
  const { proxy: ref, confirm } = BlacklistRemoveInput.parse(input);
  const p = await findProxy(ctx, ref);
  if (confirm !== p.name) throw new ValidationError(`Type the proxy's name ("${p.name}") to confirm`, { confirm: [`Type "${p.name}" to confirm`] });
  if (!p.uuid) throw new PreconditionError(`${p.name} is not a proxy VM`);
  await ctx.deps.connectors.cache.removeFromBlacklist({ uuid: p.uuid, confirm: p.uuid });
  await recordAudit(ctx, { action: 'blacklist.remove', targetKind: 'proxy', targetId: p.uuid, targetName: p.name });
  return { proxy: p.name, uuid: p.uuid, blacklisted: false };
}
