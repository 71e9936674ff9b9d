import type { Metadata } from 'next';
import { Suspense } from 'react';
import { Skeleton } from '@/components/ui/primitives';
import { JobsClient } from './jobs-client';

export const metadata: Metadata = { title: 'Jobs' };

export default function JobsPage() {
  return (
    <Suspense fallback={<Skeleton rows={8} />}>
      <JobsClient />
    </Suspense>
  );
}
