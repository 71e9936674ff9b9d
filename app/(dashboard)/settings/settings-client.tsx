'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '@/components/providers/trpc';
import { Button, Card, Field, Input, PageHeader, RelativeTime, Select, Table, td, th } from '@/components/ui/primitives';
import { QueryState, TablePanel } from '@/components/ui/query-state';
import { ROLES } from '@/server/context';
import { CreateUserInput } from '@/server/users/schemas';

type Role = (typeof ROLES)[number];

function AddUser({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const [f, setF] = useState({ email: '', name: '', password: '', role: 'viewer' as Role });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const m = useMutation(
    trpc.users.create.mutationOptions({
      onSuccess: () => {
        setF({ email: '', name: '', password: '', role: 'viewer' });
        setErrors({});
        onDone();
      },
      onError: (e) => setErrors({ _: e.message }),
    }),
  );
  const submit = () => {
    const p = CreateUserInput.safeParse(f);
    if (!p.success) {
      setErrors(Object.fromEntries(p.error.issues.map((i) => [String(i.path[0]), i.message])));
      return;
    }
    m.mutate(p.data);
  };
  return (
    <Card title="Add a user">
      <div className="grid gap-3 md:grid-cols-5">
        <Field label="E-mail" error={errors.email}>{(id) => <Input id={id} type="email" value={f.email} invalid={!!errors.email} onChange={(e) => setF({ ...f, email: e.target.value })} />}</Field>
        <Field label="Name" error={errors.name}>{(id) => <Input id={id} value={f.name} invalid={!!errors.name} onChange={(e) => setF({ ...f, name: e.target.value })} />}</Field>
        <Field label="Initial password" error={errors.password}>{(id) => <Input id={id} type="password" autoComplete="new-password" value={f.password} invalid={!!errors.password} onChange={(e) => setF({ ...f, password: e.target.value })} />}</Field>
        <Field label="Role">
          {(id) => (
            <Select id={id} value={f.role} onChange={(e) => setF({ ...f, role: e.target.value as Role })}>
              {ROLES.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </Select>
          )}
        </Field>
        <div className="flex items-end">
          <Button variant="primary" busy={m.isPending} onClick={submit}>
            Add user
          </Button>
        </div>
      </div>
      {errors._ ? <p className="mt-2 text-sm text-red-700">{errors._}</p> : null}
    </Card>
  );
}

/** Users and roles: viewers read, operators run and restore, admins change the configuration. */
export function SettingsClient() {
  const trpc = useTRPC();
  const q = useQuery(trpc.users.list.queryOptions());
  const setRole = useMutation(trpc.users.setRole.mutationOptions({ onSuccess: () => void q.refetch() }));
  return (
    <div className="space-y-5">
      <PageHeader title="Settings" subtitle="Users and roles. Viewers read; operators run backups and restores; admins change policies, storage, proxies and users." />
      {setRole.error ? <p className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">{setRole.error.message}</p> : null}
      <QueryState query={q} what="the users">
        {(users) => (
          <TablePanel>
            <Table label="Users">
              <thead>
                <tr>
                  <th className={th}>User</th>
                  <th className={th}>E-mail</th>
                  <th className={th}>Role</th>
                  <th className={th}>Since</th>
                </tr>
              </thead>
              <tbody>
                {users.map((u) => (
                  <tr key={u.id}>
                    <td className={td}>{u.name}</td>
                    <td className={td}>{u.email}</td>
                    <td className={td}>
                      <Select aria-label={`Role of ${u.email}`} className="w-32" value={u.role} onChange={(e) => setRole.mutate({ userId: u.id, role: e.target.value as Role })}>
                        {ROLES.map((r) => (
                          <option key={r}>{r}</option>
                        ))}
                      </Select>
                    </td>
                    <td className={td}>
                      <RelativeTime at={u.createdAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          </TablePanel>
        )}
      </QueryState>
      <AddUser onDone={() => void q.refetch()} />
    </div>
  );
}
