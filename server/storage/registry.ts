import { eq } from 'drizzle-orm';
import type { Queryable } from '@/db/client';
import { storageUnits } from '@/db/schema';
import { NotFoundError } from '@/server/errors';
import type { Repository } from '@/server/repository/types';

export type StorageUnitRow = typeof storageUnits.$inferSelect;

/** Opens (once) and hands out the repository of each storage unit. */
export interface StorageRegistry {
  repository(storageUnitId: string): Promise<Repository>;
  unit(storageUnitId: string): Promise<StorageUnitRow>;
  /** Creates an empty repository in a directory (new storage units). */
  init(path: string): Promise<void>;
  closeAll(): Promise<void>;
}

export function createStorageRegistry(opts: {
  db: Queryable;
  open: (unit: StorageUnitRow) => Promise<Repository>;
  init: (path: string) => Promise<void>;
}): StorageRegistry {
  const open = new Map<string, Promise<Repository>>();
  const unit = async (id: string) => {
    const [row] = await opts.db.select().from(storageUnits).where(eq(storageUnits.id, id));
    if (!row) throw new NotFoundError('Storage unit', id);
    return row;
  };
  return {
    unit,
    init: opts.init,
    async repository(id) {
      let repo = open.get(id);
      if (!repo) {
        repo = unit(id).then((row) => opts.open(row));
        open.set(id, repo);
        repo.catch(() => open.delete(id));
      }
      return repo;
    },
    async closeAll() {
      const all = [...open.values()];
      open.clear();
      await Promise.allSettled(all.map(async (r) => (await r).close()));
    },
  };
}
