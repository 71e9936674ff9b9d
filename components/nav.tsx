'use client';
import { Boxes, Database, FlaskConical, Gauge, History, ListChecks, LogOut, ScrollText, Server, Settings, Waypoints } from 'lucide-react';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { authClient } from '@/components/auth-client';
import { cn } from '@/components/ui/primitives';

type Role = 'viewer' | 'operator' | 'admin';
const ORDER: Role[] = ['viewer', 'operator', 'admin'];

/** The sidebar, in the stable order of UI.md; pages the role may not use are not shown. */
export const NAV: Array<{ href: string; label: string; icon: typeof Gauge; role: Role }> = [
  { href: '/', label: 'Overview', icon: Gauge, role: 'viewer' },
  { href: '/inventory', label: 'Inventory', icon: Server, role: 'viewer' },
  { href: '/jobs', label: 'Jobs', icon: History, role: 'viewer' },
  { href: '/policies', label: 'Policies', icon: ListChecks, role: 'viewer' },
  { href: '/proxies', label: 'Proxies', icon: Waypoints, role: 'viewer' },
  { href: '/storage', label: 'Storage', icon: Database, role: 'viewer' },
  { href: '/lab', label: 'Lab', icon: FlaskConical, role: 'viewer' },
  { href: '/audit', label: 'Audit', icon: ScrollText, role: 'operator' },
  { href: '/settings', label: 'Settings', icon: Settings, role: 'admin' },
];

export function Sidebar({ user }: { user: { name: string; email: string; role: Role } }) {
  const path = usePathname();
  const router = useRouter();
  const items = NAV.filter((n) => ORDER.indexOf(user.role) >= ORDER.indexOf(n.role));
  return (
    <aside className="flex w-52 shrink-0 flex-col bg-slate-900 text-slate-200">
      <div className="flex items-center gap-2 px-4 py-4">
        <Boxes aria-hidden className="size-5 text-sky-400" />
        <span className="text-base font-semibold tracking-tight text-white">Quiesce</span>
      </div>
      <nav aria-label="Main" className="flex-1 space-y-0.5 px-2">
        {items.map((n) => {
          const active = n.href === '/' ? path === '/' : path.startsWith(n.href);
          const Icon = n.icon;
          return (
            <Link key={n.href} href={n.href} aria-current={active ? 'page' : undefined} className={cn('flex items-center gap-2 rounded-md px-2.5 py-1.5 text-sm', active ? 'bg-slate-700 text-white' : 'hover:bg-slate-800')}>
              <Icon aria-hidden className="size-4" />
              {n.label}
            </Link>
          );
        })}
      </nav>
      <div className="border-t border-slate-700 px-4 py-3 text-xs">
        <p className="truncate font-medium text-white" title={user.email}>
          {user.name}
        </p>
        <p className="truncate text-slate-400">{user.email}</p>
        <p className="mt-0.5 text-slate-400">
          Role: <span className="font-medium text-slate-200">{user.role}</span>
        </p>
        <button
          type="button"
          className="mt-2 inline-flex items-center gap-1 text-slate-300 hover:text-white"
          onClick={() =>
            void authClient.signOut().then(() => {
              router.replace('/sign-in');
              router.refresh();
            })
          }
        >
          <LogOut aria-hidden className="size-3.5" /> Sign out
        </button>
      </div>
    </aside>
  );
}
