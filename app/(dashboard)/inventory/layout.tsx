import type { ReactNode } from 'react';
import { InventoryTree } from './tree';

export default function InventoryLayout({ children }: { children: ReactNode }) {
  return (
    <div className="flex gap-5">
      <InventoryTree />
      <div className="min-w-0 flex-1">{children}</div>
    </div>
  );
}
