import type { Metadata } from 'next';
import { ProxiesClient } from './proxies-client';

export const metadata: Metadata = { title: 'Proxies' };

export default function ProxiesPage() {
  return <ProxiesClient />;
}
