import { authOptions } from '../auth/next-auth';
import { db } from '../runtime';

/** The console's next-auth options, shared by the auth route and server components. */
export const consoleAuth = authOptions(() => db());
