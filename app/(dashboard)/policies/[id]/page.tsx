import type { Metadata } from 'next';
import { requireSignedIn, roleAtLeast } from '@/server/session';
import { EditPolicy } from './edit-policy';

export const metadata: Metadata = { title: 'Policy' };

export default async function PolicyPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const actor = await requireSignedIn(`/policies/${id}`);
  return <EditPolicy id={id} readOnly={!roleAtLeast(actor.role, 'admin')} />;
}
