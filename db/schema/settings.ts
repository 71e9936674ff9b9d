import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Small process-wide facts (bootstrap done, default policy id…). */
export const appSettings = pgTable('app_settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
