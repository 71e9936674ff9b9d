import fs from 'node:fs';
import path from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { appSettings, policies, storageUnits, user } from '@/db/schema';
import type { Db } from '@/db/client';
import type { Auth } from '@/server/auth/auth';
import { countUsers, createApiToken, createUser, generatePassword } from '@/server/auth/users';
import type { ServiceContext } from '@/server/context';
import { enqueueJob } from '@/server/engine/client';
import { nextRun } from '@/server/policies/schedule';
import { PolicySettingsSchema } from '@/server/policies/schemas';
import type { RepositoryBackend } from './runtime';

export interface BootstrapReport {
  /** Set on the first start only: the admin that was created (the password is shown once). */
  admin: { email: string; password: string; generated: boolean } | null;
  cliTokenFile: string;
  defaultStorageUnitId: string;
  defaultPolicyId: string | null;
  firstRunJobId: string | null;
}

export const DEFAULT_POLICY_NAME = 'Default — all lab VMs';

export function cliTokenFile(dataDir: string): string {
  return path.join(dataDir, 'cli-token');
}

async function setting(db: Db, key: string): Promise<unknown> {
  const [row] = await db.select().from(appSettings).where(eq(appSettings.key, key));
  return row?.value ?? null;
}

async function setSetting(db: Db, key: string, value: unknown): Promise<void> {
  await db.insert(appSettings).values({ key, value }).onConflictDoUpdate({ target: appSettings.key, set: { value, updatedAt: new Date() } });
}

/**
 * First start: the admin (credentials from the environment or generated and printed), the CLI's
 * API token (in the data directory, readable by root only), a filesystem storage unit in the data
 * directory, and a default policy protecting every VM whose first run starts right away.
 */
export async function bootstrap({ ctx, auth, repositories }: { ctx: ServiceContext; auth: Auth; repositories: RepositoryBackend }): Promise<BootstrapReport> {
  const db = ctx.db as Db;
  const { config } = ctx.deps;
  let admin: BootstrapReport['admin'] = null;
  if ((await countUsers(db)) === 0) {
    const password = config.adminPassword ?? generatePassword();
    await createUser(auth, db, { email: config.adminEmail, name: 'Administrator', password, role: 'admin' });
    admin = { email: config.adminEmail, password, generated: !config.adminPassword };
    ctx.logger.info({ email: config.adminEmail }, 'created the first admin');
  }

  const tokenFile = cliTokenFile(config.dataDir);
  if (!fs.existsSync(tokenFile)) {
    const [firstAdmin] = await db.select().from(user).where(eq(user.role, 'admin')).orderBy(asc(user.createdAt)).limit(1);
    if (firstAdmin) {
      const token = await createApiToken(auth, firstAdmin.id, 'quiesce CLI (local)');
      fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    }
  }

  let [unit] = await db.select().from(storageUnits).orderBy(asc(storageUnits.createdAt)).limit(1);
  if (!unit) {
    const dir = path.join(config.dataDir, 'storage', 'default');
    if (!fs.existsSync(dir) || fs.readdirSync(dir).length === 0) await repositories.init(dir);
    [unit] = await db.insert(storageUnits).values({ name: 'default', path: dir, maxConcurrentJobs: 4 }).returning();
  }

  let defaultPolicyId = (await setting(db, 'bootstrap.defaultPolicyId')) as string | null;
  let firstRunJobId: string | null = null;
  if (!defaultPolicyId && (await db.select({ id: policies.id }).from(policies).limit(1)).length === 0) {
    const now = ctx.clock.now();
    const schedule = '0 * * * *';
    const [p] = await db
      .insert(policies)
      .values({
        name: DEFAULT_POLICY_NAME,
        description: 'Protects every VM of the lab, hourly. Created on first start; edit or disable it on the Policies page.',
        schedule,
        timezone: 'UTC',
        selection: { names: [], folders: [], tags: [], namePattern: '*' },
        storageUnitId: unit!.id,
        settings: PolicySettingsSchema.parse({}),
        nextRunAt: new Date(nextRun(schedule, 'UTC', now) ?? now),
        createdBy: 'bootstrap',
      })
      .returning();
    defaultPolicyId = p!.id;
    await setSetting(db, 'bootstrap.defaultPolicyId', defaultPolicyId);
    const { job } = await enqueueJob(db, ctx.clock, {
      type: 'policy.run',
      key: `policy:${p!.id}:first-run`,
      input: { policyId: p!.id, scheduledFor: now, trigger: 'first start' },
      policyId: p!.id,
      priority: 50,
      createdBy: 'bootstrap',
    });
    firstRunJobId = job.id;
  }
  return { admin, cliTokenFile: tokenFile, defaultStorageUnitId: unit!.id, defaultPolicyId, firstRunJobId };
}
