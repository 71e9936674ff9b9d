import { relations } from 'drizzle-orm';
import { boolean, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { storageUnits } from './storage-units';

/** VM selection, evaluated against the live inventory each time the policy runs. */
export interface VmSelection {
  names: string[];
  folders: string[];
  tags: string[];
  /** Glob on VM names: `*` any run, `?` one character. */
  namePattern: string | null;
}

/** A backup policy: when, what, where and how. `settings` is validated by server/policies/schemas.ts. */
export const policies = pgTable('policies', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  enabled: boolean('enabled').notNull().default(true),
  schedule: text('schedule').notNull(),
  timezone: text('timezone').notNull().default('UTC'),
  selection: jsonb('selection').$type<VmSelection>().notNull(),
  storageUnitId: uuid('storage_unit_id')
    .notNull()
    .references(() => storageUnits.id),
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  nextRunAt: timestamp('next_run_at', { withTimezone: true }),
  lastRunAt: timestamp('last_run_at', { withTimezone: true }),
  createdBy: text('created_by'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const policyRelations = relations(policies, ({ one }) => ({
  storageUnit: one(storageUnits, { fields: [policies.storageUnitId], references: [storageUnits.id] }),
}));
