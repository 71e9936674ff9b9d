import { bigserial, index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { jobs } from './jobs';

/**
 * Slots a job holds while it runs: proxy tasks, storage-unit jobs, per-datastore and per-host
 * snapshots, one backup per VM and per failover cluster. Rows of ended jobs count for nothing.
 */
export const resourceLeases = pgTable(
  'resource_leases',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    resource: text('resource').notNull(),
    jobId: uuid('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    acquiredAt: timestamp('acquired_at', { withTimezone: true }).notNull(),
  },
  (t) => [uniqueIndex('resource_leases_resource_job_idx').on(t.resource, t.jobId), index('resource_leases_job_idx').on(t.jobId)],
);

/**
 * Every change the engine makes to the environment that must be undone (a cache policy switched
 * to write-through, a DRS pin, a raised heartbeat threshold), with the value to put back. The
 * orphan sweep restores rows whose job has ended without restoring them.
 */
export const environmentOverrides = pgTable(
  'environment_overrides',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    kind: text('kind', { enum: ['cache-policy', 'drs-pin', 'heartbeat'] }).notNull(),
    targetId: text('target_id').notNull(),
    targetName: text('target_name'),
    jobId: uuid('job_id').notNull(),
    original: jsonb('original').$type<Record<string, unknown>>().notNull(),
    applied: jsonb('applied').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    restoredAt: timestamp('restored_at', { withTimezone: true }),
    restoredBy: text('restored_by'),
  },
  (t) => [uniqueIndex('environment_overrides_kind_target_job_idx').on(t.kind, t.targetId, t.jobId), index('environment_overrides_open_idx').on(t.restoredAt)],
);
