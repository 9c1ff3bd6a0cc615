import NextAuth from 'next-auth';
import { consoleAuth } from '@/server/http/auth';

const handler = NextAuth(consoleAuth);

export { handler as GET, handler as POST };
