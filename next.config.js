/** @type {import('next').NextConfig} */
const nextConfig = {
  // The process entry (server/main.ts) owns the database, the lab and the engine; the pages only
  // reach them through the runtime handle. These packages must never be bundled twice.
  serverExternalPackages: ['@electric-sql/pglite', 'pg', 'pino', 'better-auth'],
  poweredByHeader: false,
  reactStrictMode: true,
  typescript: { ignoreBuildErrors: true }, // `npm run typecheck` is the type gate
};
export default nextConfig;
