'use client';
import { useRouter, useSearchParams } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { authClient } from '@/components/auth-client';
import { Button, Field, Input } from '@/components/ui/primitives';

export function SignInForm() {
  const router = useRouter();
  const params = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const res = await authClient.signIn.email({ email, password });
    setBusy(false);
    if (res.error) {
      setError(res.error.status === 401 ? 'Wrong e-mail or password.' : (res.error.message ?? 'Sign-in failed; try again.'));
      return;
    }
    const next = params.get('next');
    router.replace(next && next.startsWith('/') ? next : '/');
    router.refresh();
  }

  return (
    <form onSubmit={(e) => void submit(e)} className="mt-5 space-y-4">
      <Field label="E-mail">{(id) => <Input id={id} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
      <Field label="Password">{(id) => <Input id={id} type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />}</Field>
      {error ? (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
          {error}
        </p>
      ) : null}
      <Button type="submit" variant="primary" busy={busy} className="w-full justify-center">
        Sign in
      </Button>
    </form>
  );
}
