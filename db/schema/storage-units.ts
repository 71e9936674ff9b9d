import { bigint, boolean, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** A place backup data is written: here a filesystem directory holding a repository. */
export const storageUnits = pgTable('storage_units', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  kind: text('kind', { enum: ['filesystem'] }).notNull().default('filesystem'),
  path: text('path').notNull().unique(),
  encrypted: boolean('encrypted').notNull().default(false),
  keyFile: text('key_file'),
  maxConcurrentJobs: integer('max_concurrent_jobs').notNull().default(4),
  capacityBytes: bigint('capacity_bytes', { mode: 'number' }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
