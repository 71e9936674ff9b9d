import { JOB_STATUSES, TERMINAL_STATUSES, type JobStatus } from './statuses';

export { JOB_STATUSES, TERMINAL_STATUSES, type JobStatus };
/** Statuses of a job some worker is (or was, if it died) working on. */
export const ACTIVE_STATUSES: readonly JobStatus[] = ['running', 'compensating'];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function isActive(status: JobStatus): boolean {
  return ACTIVE_STATUSES.includes(status);
}

export type JobEvent =
  | { type: 'leased'; recovered: boolean }
  | { type: 'stepFailed'; retry: boolean }
  | { type: 'cancelRequested' }
  | { type: 'allStepsCompleted' }
  | { type: 'compensationFinished'; cause: 'failure' | 'cancel' };

/**
 * The job life cycle as a pure function: where an event takes a job. Invalid transitions throw,
 * so a bug in the runner cannot move a job backwards (a finished job never runs again).
 */
export function transition(status: JobStatus, event: JobEvent): JobStatus {
  switch (event.type) {
    case 'leased':
      if (status === 'queued' || status === 'retrying') return 'running';
      if (event.recovered && (status === 'running' || status === 'compensating')) return status;
      break;
    case 'stepFailed':
      if (status === 'running') return event.retry ? 'retrying' : 'compensating';
      break;
    case 'cancelRequested':
      if (status === 'queued' || status === 'retrying') return 'cancelled';
      if (status === 'running') return 'compensating';
      if (status === 'compensating') return 'compensating';
      break;
    case 'allStepsCompleted':
      if (status === 'running') return 'succeeded';
      break;
    case 'compensationFinished':
      if (status === 'compensating' || status === 'running') return event.cause === 'cancel' ? 'cancelled' : 'failed';
      break;
  }
  throw new Error(`invalid job transition: ${status} --${event.type}-->`);
}
