import type { Metadata } from 'next';
import { PoliciesList } from './policies-list';

export const metadata: Metadata = { title: 'Policies' };

export default function PoliciesPage() {
  return <PoliciesList />;
}
