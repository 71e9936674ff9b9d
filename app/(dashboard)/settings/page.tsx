import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { requireSignedIn, roleAtLeast } from '@/server/session';
import { SettingsClient } from './settings-client';

export const metadata: Metadata = { title: 'Settings' };

export default async function SettingsPage() {
  const actor = await requireSignedIn('/settings');
  if (!roleAtLeast(actor.role, 'admin')) redirect('/');
  return <SettingsClient />;
}
