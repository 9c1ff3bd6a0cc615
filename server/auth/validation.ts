import { z } from 'zod';
import { roles } from '../../db/schema';
import { AirlockError } from '../lib/errors';

/** Emails are compared lower-cased and trimmed everywhere: one person, one row. */
export const ZEmail = z.string().trim().toLowerCase().max(320).pipe(z.email('not a valid email address'));

export const ZRole = z.enum(roles, { error: () => `role must be one of ${roles.join(', ')}` });

/** Long enough to resist guessing, short enough that hashing it cannot be used to burn CPU. */
export const ZPassword = z.string().min(8, 'passwords need at least 8 characters').max(256, 'passwords are at most 256 characters');

export const ZDisplayName = z.string().trim().min(1, 'name must not be empty').max(200);

/** Agent and token names appear in logs, the console and the CLI: keep them plain. */
export const ZLabel = z
  .string()
  .trim()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, 'names are 1-64 letters, digits, ".", "-" or "_", starting with a letter or digit');

export const ZActor = z.object({
  type: z.enum(['user', 'agent', 'system']),
  id: z.string().nullish(),
});

/** Refers to a user by id (console) or by email (CLI). */
export const ZUserRef = z.union([z.object({ userId: z.string().min(1) }), z.object({ email: ZEmail })]);
export type UserRef = { userId: string } | { email: string };

/** Every problem of a failed parse on one line: `path: message; …` (for people and for scripts that log it). */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
}

/** Parse input at a domain boundary; a failure is a `bad_request` naming every problem. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new AirlockError('bad_request', describeIssues(result.error), result.error.issues);
}
