'use client';
import { useQuery } from '@tanstack/react-query';
import { Building2, HardDrive, Server, Monitor } from 'lucide-react';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useTRPC } from '@/components/providers/trpc';
import { cn, ErrorPanel, Skeleton } from '@/components/ui/primitives';

const DOT: Record<string, string> = { protected: 'bg-green-500', 'at-risk': 'bg-amber-500', unprotected: 'bg-red-500' };

/** vCenter → cluster → host → VM, each VM with its protection state. */
export function InventoryTree() {
  const trpc = useTRPC();
  const path = usePathname();
  const q = useQuery(trpc.inventory.tree.queryOptions(undefined, { refetchInterval: 10_000 }));
  return (
    <nav aria-label="Inventory tree" className="w-60 shrink-0 rounded-lg border border-slate-200 bg-white p-3 text-sm shadow-sm">
      {q.error ? <ErrorPanel error={q.error} what="the inventory" /> : null}
      {!q.data ? (
        <Skeleton rows={10} />
      ) : (
        <ul>
          {q.data.vcenters.map((vc) => (
            <li key={vc.id}>
              <Link href="/inventory" className="flex items-center gap-1.5 font-semibold">
                <Building2 aria-hidden className="size-4 text-slate-500" /> {vc.name}
              </Link>
              <ul className="ml-3 mt-1 border-l border-slate-200 pl-2">
                {vc.clusters.map((c) => (
                  <li key={c.id}>
                    <span className="flex items-center gap-1.5 font-medium text-slate-700">
                      <HardDrive aria-hidden className="size-4 text-slate-500" /> {c.name}
                    </span>
                    <ul className="ml-3 mt-1 border-l border-slate-200 pl-2">
                      {c.hosts.map((h) => (
                        <li key={h.id} className="mb-1">
                          <span className={cn('flex items-center gap-1.5', h.state === 'down' ? 'text-red-700' : 'text-slate-700')}>
                            <Server aria-hidden className="size-4 text-slate-500" /> {h.name.split('.')[0]}
                            {h.state === 'down' ? <span className="text-xs">(down)</span> : null}
                          </span>
                          <ul className="ml-3 border-l border-slate-200 pl-2">
                            {h.vms.map((vm) => {
                              const href = `/inventory/vms/${encodeURIComponent(vm.id)}`;
                              return (
                                <li key={vm.id}>
                                  <Link href={href} aria-current={path === href ? 'page' : undefined} className={cn('flex items-center gap-1.5 rounded px-1 py-0.5 hover:bg-slate-100', path === href && 'bg-sky-50 font-medium text-sky-900')}>
                                    <Monitor aria-hidden className="size-3.5 text-slate-400" />
                                    <span className="truncate">{vm.name}</span>
                                    {vm.isProxy ? <span className="text-xs text-slate-400">proxy</span> : <span aria-label={vm.protection.state} title={vm.protection.summary} className={cn('ml-auto size-2 shrink-0 rounded-full', DOT[vm.protection.state])} />}
                                  </Link>
                                </li>
                              );
                            })}
                          </ul>
                        </li>
                      ))}
                    </ul>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      )}
    </nav>
  );
}
