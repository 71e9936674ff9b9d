import type { Metadata } from 'next';
import { VmDetail } from './vm-detail';

export const metadata: Metadata = { title: 'VM' };

export default async function VmPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <VmDetail vmId={decodeURIComponent(id)} />;
}
