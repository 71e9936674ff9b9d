import type { ReactNode } from 'react';
import { Sidebar } from '@/components/nav';
import { requireSignedIn } from '@/server/session';

export const dynamic = 'force-dynamic';

export default async function DashboardLayout({ children }: { children: ReactNode }) {
  const actor = await requireSignedIn();
  return (
    <div className="flex min-h-full">
      <Sidebar user={{ name: actor.name, email: actor.email, role: actor.role }} />
      <main className="min-w-0 flex-1 px-6 py-5">{children}</main>
    </div>
  );
}
