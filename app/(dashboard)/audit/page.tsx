import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { requireSignedIn, roleAtLeast } from '@/server/session';
import { AuditClient } from './audit-client';

export const metadata: Metadata = { title: 'Audit' };

export default async function AuditPage() {
  const actor = await requireSignedIn('/audit');
  if (!roleAtLeast(actor.role, 'operator')) redirect('/');
  return <AuditClient />;
}
