import { apiKey } from '@better-auth/api-key';
import { betterAuth } from 'better-auth';
import { drizzleAdapter } from 'better-auth/adapters/drizzle';
import type { Db } from '@/db/client';
import type { Logger } from '@/server/lib/logger';
import { account, apikey, session, user, verification } from '@/db/schema';

/**
 * Sign-in, sessions, password hashing and API keys come from the auth library (better-auth);
 * Quiesce adds only roles on top. Sign-up is closed: admins create users.
 */
export function createAuth(opts: { db: Db; secret: string; baseURL: string; trustedOrigins?: string[]; logger?: Logger }) {
  const log = opts.logger?.child({ component: 'auth' });
  return betterAuth({
    appName: 'Quiesce',
    secret: opts.secret,
    baseURL: opts.baseURL,
    basePath: '/api/auth',
    trustedOrigins: opts.trustedOrigins ?? [],
    database: drizzleAdapter(opts.db, { provider: 'pg', schema: { user, session, account, verification, apikey } }),
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 8 },
    user: {
      additionalFields: {
        role: { type: 'string', required: false, defaultValue: 'viewer', input: false },
      },
    },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    logger: {
      // Refused keys and passwords are expected (4xx), not errors of the product.
      log: (level, message, ...args) => {
        if (!log) return;
        const expected = /invalid api key|invalid (email|password)|failed to validate api key/i.test(message);
        const lvl = expected ? 'debug' : level;
        log[lvl]({ args: args.length ? args.map(String) : undefined }, message);
      },
    },
    plugins: [
      apiKey({
        defaultPrefix: 'qsc_',
        rateLimit: { enabled: false },
        keyExpiration: { defaultExpiresIn: null },
      }),
    ],
  });
}

export type Auth = ReturnType<typeof createAuth>;
