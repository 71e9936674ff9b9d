import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import type { Runtime } from '@/server/runtime';
import { scratchDir, startTestRuntime } from '@/test/runtime-fixture';
import { createApiToken, createUser } from './users';

/** Storage units exist in these tests but no backup runs: repositories are plain directories. */
const dirRepositories = {
  open: async () => {
    throw new Error('not used');
  },
  init: async (p: string) => {
    (await import('node:fs')).mkdirSync(p, { recursive: true });
  },
};

describe('auth and roles', () => {
  const scratch = scratchDir();
  let rt: Runtime;

  beforeAll(async () => {
    rt = await startTestRuntime(scratch.dir, { repositories: dirRepositories });
    await createUser(rt.auth, rt.database.db, { email: 'viewer@x.test', name: 'Viewer', password: 'viewer-password', role: 'viewer' });
    await createUser(rt.auth, rt.database.db, { email: 'operator@x.test', name: 'Operator', password: 'operator-password', role: 'operator' });
  });
  afterAll(async () => {
    await rt.close();
    scratch.remove();
  });

  const signIn = async (email: string, password: string) => {
    const res = await rt.auth.api.signInEmail({ body: { email, password }, asResponse: true });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    return new Headers({ cookie: cookie.split(';')[0]! });
  };

  it('first start created the admin with the configured password, and the CLI token', async () => {
    expect(rt.bootstrapReport?.admin).toMatchObject({ email: 'admin@quiesce.local', password: 'test-admin-password', generated: false });
    const token = (await import('node:fs')).readFileSync(rt.bootstrapReport!.cliTokenFile, 'utf8').trim();
    const actor = await rt.actorFromHeaders(new Headers({ authorization: `Bearer ${token}` }));
    expect(actor).toMatchObject({ kind: 'apiToken', role: 'admin', email: 'admin@quiesce.local' });
  });

  it('a session cookie carries the user role', async () => {
    const actor = await rt.actorFromHeaders(await signIn('operator@x.test', 'operator-password'));
    expect(actor).toMatchObject({ kind: 'user', role: 'operator', email: 'operator@x.test' });
  });

  it('refuses a wrong password and unknown tokens', async () => {
    const res = await rt.auth.api.signInEmail({ body: { email: 'viewer@x.test', password: 'nope-nope-nope' }, asResponse: true });
    expect(res.status).toBe(401);
    expect(await rt.actorFromHeaders(new Headers({ authorization: 'Bearer qsc_not-a-real-key' }))).toEqual({ kind: 'anonymous' });
  });

  it('enforces roles in procedures: anonymous, viewer, operator, admin', async () => {
    const anon = rt.caller({ kind: 'anonymous' });
    await expect(anon.policies.list()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const viewer = rt.caller(await rt.actorFromHeaders(await signIn('viewer@x.test', 'viewer-password')));
    expect(Array.isArray(await viewer.policies.list())).toBe(true);
    await expect(viewer.jobs.startBackup({ vm: 'web-01' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(viewer.jobs.cancel({ id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const operator = rt.caller(await rt.actorFromHeaders(await signIn('operator@x.test', 'operator-password')));
    await expect(operator.policies.create({ name: 'x', schedule: '0 * * * *', selection: { namePattern: '*' }, storageUnitId: rt.bootstrapReport!.defaultStorageUnitId })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(operator.jobs.cancel({ id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('an API token acts with its user role', async () => {
    const users = await rt.database.db.query.user.findMany();
    const viewer = users.find((u) => u.email === 'viewer@x.test')!;
    const token = await createApiToken(rt.auth, viewer.id, 'viewer script');
    const actor = await rt.actorFromHeaders(new Headers({ 'x-api-key': token }));
    expect(actor).toMatchObject({ kind: 'apiToken', role: 'viewer' });
    await expect(rt.caller(actor).jobs.startBackup({ vm: 'x' })).rejects.toBeInstanceOf(TRPCError);
  });

  it('bad input gets field errors and changes nothing', async () => {
    const admin = rt.caller({ kind: 'cli' });
    const before = await admin.policies.list();
    const err = await admin.policies
      .create({ name: 'bad', schedule: 'sometimes', selection: {}, storageUnitId: '00000000-0000-4000-8000-000000000000' })
      .then(() => null, (e: TRPCError) => e);
    expect(err?.code).toBe('BAD_REQUEST');
    expect(err?.message).toMatch(/schedule/);
    const unknownUnit = await admin.policies
      .create({ name: 'bad2', schedule: '0 * * * *', selection: { names: ['web-01'] }, storageUnitId: '00000000-0000-4000-8000-000000000000' })
      .then(() => null, (e: TRPCError) => e);
    expect(unknownUnit?.code).toBe('BAD_REQUEST');
    expect((unknownUnit?.cause as { fieldErrors?: Record<string, string[]> }).fieldErrors?.storageUnitId?.[0]).toMatch(/storage unit/);
    expect(await admin.policies.list()).toEqual(before);
  });

  it('admins manage users: create one who can sign in, change roles (audited), never demote the last admin', async () => {
    const admin = rt.caller({ kind: 'cli' });
    const viewer = rt.caller(await rt.actorFromHeaders(await signIn('viewer@x.test', 'viewer-password')));
    await expect(viewer.users.list()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(viewer.users.create({ email: 'x@x.test', name: 'X', password: 'x-password', role: 'admin' })).rejects.toMatchObject({ code: 'FORBIDDEN' });

    const bad = await admin.users.create({ email: 'not-an-email', name: '', password: 'short', role: 'viewer' }).then(() => null, (e: TRPCError) => e);
    expect(bad?.code).toBe('BAD_REQUEST');
    const created = await admin.users.create({ email: 'Owner@X.test', name: 'Owner', password: 'owner-password', role: 'viewer' });
    expect(created).toMatchObject({ email: 'owner@x.test', role: 'viewer' });
    await expect(admin.users.create({ email: 'owner@x.test', name: 'Again', password: 'owner-password', role: 'viewer' })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await rt.actorFromHeaders(await signIn('owner@x.test', 'owner-password'))).toMatchObject({ kind: 'user', role: 'viewer' });

    await admin.users.setRole({ userId: created.id, role: 'operator' });
    expect(await rt.actorFromHeaders(await signIn('owner@x.test', 'owner-password'))).toMatchObject({ role: 'operator' });
    const audit = await rt.database.db.query.auditLog.findMany();
    expect(audit.filter((a) => a.targetId === created.id).map((a) => a.action)).toEqual(expect.arrayContaining(['user.create', 'user.setRole']));

    const onlyAdmin = (await admin.users.list()).filter((u) => u.role === 'admin');
    expect(onlyAdmin).toHaveLength(1);
    await expect(admin.users.setRole({ userId: onlyAdmin[0]!.id, role: 'viewer' })).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    expect((await admin.users.list()).filter((u) => u.role === 'admin')).toHaveLength(1);
    await expect(admin.users.setRole({ userId: 'no-such-user', role: 'viewer' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a second process cannot open the same data directory; the error names the owner', async () => {
    await expect(startTestRuntime(scratch.dir, { repositories: dirRepositories })).rejects.toThrow(new RegExp(`in use by process ${process.pid}`));
  });
});
