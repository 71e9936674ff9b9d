import type { Metadata } from 'next';
import { Suspense } from 'react';
import { SignInForm } from './sign-in-form';

export const metadata: Metadata = { title: 'Sign in' };

export default function SignInPage() {
  return (
    <main className="flex min-h-full items-center justify-center bg-slate-900 p-6">
      <div className="w-full max-w-sm rounded-lg bg-white p-6 shadow-xl">
        <h1 className="text-lg font-semibold">Sign in to Quiesce</h1>
        <p className="mt-1 text-sm text-slate-600">The first start printed the admin&apos;s e-mail and password (or took them from QUIESCE_ADMIN_EMAIL / QUIESCE_ADMIN_PASSWORD).</p>
        <Suspense>
          <SignInForm />
        </Suspense>
      </div>
    </main>
  );
}
