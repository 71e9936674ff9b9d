import { relations } from 'drizzle-orm';
import { bigserial, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

import { JOB_STATUSES, STEP_STATUSES } from '../../server/engine/statuses';

export { JOB_STATUSES, STEP_STATUSES };
export const jobStatus = pgEnum('job_status', JOB_STATUSES);
export const stepStatus = pgEnum('step_status', STEP_STATUSES);
export const stepPhase = pgEnum('step_phase', ['run', 'compensate']);

export interface JobError {
  code: string;
  message: string;
  step?: string;
}

export interface JobProgress {
  phase?: string;
  bytesTotal?: number;
  bytesDone?: number;
  bytesRead?: number;
  bytesStored?: number;
  /** Lab/clock ms when the figures were taken, for throughput and ETA. */
  at?: number;
  startedAt?: number;
}

/** Durable jobs: the engine leases rows with FOR UPDATE SKIP LOCKED and heartbeats `lockedUntil`. */
export const jobs = pgTable(
  'jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    type: text('type').notNull(),
    /** Dedupe key: a unique violation means "already enqueued". */
    key: text('key').unique(),
    status: jobStatus('status').notNull().default('queued'),
    priority: integer('priority').notNull().default(100),
    input: jsonb('input').$type<Record<string, unknown>>().notNull(),
    result: jsonb('result').$type<Record<string, unknown>>(),
    error: jsonb('error').$type<JobError>(),
    progress: jsonb('progress').$type<JobProgress>(),
    waitingReason: text('waiting_reason'),
    vmId: text('vm_id'),
    vmName: text('vm_name'),
    policyId: uuid('policy_id'),
    storageUnitId: uuid('storage_unit_id'),
    parentJobId: uuid('parent_job_id'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(3),
    /** Times the job was taken over from a dead worker. */
    recoveries: integer('recoveries').notNull().default(0),
    runAt: timestamp('run_at', { withTimezone: true }).notNull().defaultNow(),
    lockedBy: text('locked_by'),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    cancelRequestedAt: timestamp('cancel_requested_at', { withTimezone: true }),
    createdBy: text('created_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('jobs_status_run_at_idx').on(t.status, t.runAt),
    index('jobs_vm_created_idx').on(t.vmId, t.createdAt),
    index('jobs_policy_created_idx').on(t.policyId, t.createdAt),
    index('jobs_created_idx').on(t.createdAt),
    index('jobs_parent_idx').on(t.parentJobId),
  ],
);

/** Each step is recorded before (running) and after (completed/failed) it runs. */
export const jobSteps = pgTable(
  'job_steps',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    jobId: uuid('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    name: text('name').notNull(),
    phase: stepPhase('phase').notNull().default('run'),
    status: stepStatus('status').notNull(),
    attempt: integer('attempt').notNull().default(1),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    result: jsonb('result').$type<Record<string, unknown>>(),
    error: jsonb('error').$type<JobError>(),
  },
  (t) => [uniqueIndex('job_steps_job_name_phase_idx').on(t.jobId, t.name, t.phase)],
);

export const jobLogs = pgTable(
  'job_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    jobId: uuid('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    at: timestamp('at', { withTimezone: true }).notNull(),
    level: text('level', { enum: ['debug', 'info', 'warn', 'error'] }).notNull(),
    step: text('step'),
    message: text('message').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
  },
  (t) => [index('job_logs_job_idx').on(t.jobId, t.id)],
);

/** Engine processes, with heartbeats, so a dead worker's jobs can be told apart from slow ones. */
export const engineWorkers = pgTable('engine_workers', {
  id: text('id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull(),
  stoppedAt: timestamp('stopped_at', { withTimezone: true }),
});

export const jobRelations = relations(jobs, ({ many }) => ({ steps: many(jobSteps), logs: many(jobLogs) }));
export const jobStepRelations = relations(jobSteps, ({ one }) => ({ job: one(jobs, { fields: [jobSteps.jobId], references: [jobs.id] }) }));
export const jobLogRelations = relations(jobLogs, ({ one }) => ({ job: one(jobs, { fields: [jobLogs.jobId], references: [jobs.id] }) }));
