import { bigint, boolean, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export interface RestorePointDisk {
  index: number;
  label: string;
  sizeBytes: number;
  /** Change id at the snapshot: the next incremental asks for changes since this. */
  changeId: string | null;
  bytesRead: number;
  full: boolean;
}

/** One point-in-time image of a VM in a storage unit's repository (the repository's manifest is the source of truth). */
export const restorePoints = pgTable(
  'restore_points',
  {
    id: text('id').primaryKey(),
    series: text('series').notNull(),
    vmId: text('vm_id').notNull(),
    vmUuid: text('vm_uuid').notNull(),
    vmName: text('vm_name').notNull(),
    policyId: uuid('policy_id'),
    jobId: uuid('job_id'),
    storageUnitId: uuid('storage_unit_id').notNull(),
    /** The snapshot instant. */
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    consistency: text('consistency', { enum: ['application', 'crash'] }).notNull(),
    /** The hypervisor snapshot the point was read from (the lab's oracle keys on it). */
    snapshotId: text('snapshot_id'),
    transport: text('transport'),
    proxyId: text('proxy_id'),
    full: boolean('full').notNull(),
    disks: jsonb('disks').$type<RestorePointDisk[]>().notNull(),
    logicalBytes: bigint('logical_bytes', { mode: 'number' }).notNull(),
    bytesRead: bigint('bytes_read', { mode: 'number' }).notNull(),
    storedBytesAdded: bigint('stored_bytes_added', { mode: 'number' }).notNull(),
    status: text('status', { enum: ['available', 'expired', 'damaged'] }).notNull().default('available'),
  },
  (t) => [index('restore_points_vm_created_idx').on(t.vmId, t.createdAt), index('restore_points_storage_idx').on(t.storageUnitId)],
);
