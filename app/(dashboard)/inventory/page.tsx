import type { Metadata } from 'next';
import { InventoryOverview } from './overview';

export const metadata: Metadata = { title: 'Inventory' };

export default function InventoryPage() {
  return <InventoryOverview />;
}
