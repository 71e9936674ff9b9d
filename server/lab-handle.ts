import type { LabEvent, LabInspection } from '@/server/connectors/lab';

/**
 * What the domain layer may ask of the lab beyond the connector interfaces: its inspection view,
 * its oracle (for verifying restored images) and its events and faults. Null when the process
 * runs against real hypervisors.
 */
export interface LabOracleRecord {
  /** Image digest (server/lib/image-digest.ts) of what the guest saw at the snapshot instant. */
  digest: string;
  sizeBytes: number;
}

export interface LabHandle {
  inspect(): Promise<LabInspection>;
  oracle(snapshotId: string, diskIndex: number): Promise<LabOracleRecord | null>;
  events(opts?: { sinceId?: number; limit?: number }): Promise<LabEvent[]>;
  injectFault(fault: Record<string, unknown>): Promise<LabEvent>;
}
