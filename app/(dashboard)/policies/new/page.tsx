import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { requireSignedIn, roleAtLeast } from '@/server/session';
import { PolicyForm } from '../policy-form';

export const metadata: Metadata = { title: 'New policy' };

export default async function NewPolicyPage() {
  const actor = await requireSignedIn('/policies/new');
  if (!roleAtLeast(actor.role, 'admin')) redirect('/policies');
  return <PolicyForm readOnly={false} />;
}
