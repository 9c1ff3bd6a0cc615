/** @type {import('next').NextConfig} */
const nextConfig = {
  // packages that open databases or sockets stay plain Node modules, shared with server/index.ts
  serverExternalPackages: ['@electric-sql/pglite', 'postgres', 'drizzle-orm', 'socket.io', 'canonicalize', 'picomatch'],
  poweredByHeader: false,
  reactStrictMode: true,
  // `npm run typecheck` (tsc over the whole project) runs in CI; the build need not repeat it
  typescript: { ignoreBuildErrors: true },
};

export default nextConfig;
