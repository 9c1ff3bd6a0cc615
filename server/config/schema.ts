import { z } from 'zod';
import { ZRule } from '../policy/types';

export const ZUpstreamName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$/, 'upstream names are 1-63 letters, digits, "-" or "_"');

export const ZStdioUpstream = z
  .object({
    transport: z.literal('stdio'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().optional(),
    shared: z.boolean().optional(),
  })
  .strict();

export const ZHttpUpstream = z
  .object({
    transport: z.literal('http'),
    url: z.url({ protocol: /^https?$/ }),
    headers: z.record(z.string(), z.string()).default({}),
    shared: z.boolean().optional(),
  })
  .strict();

export const ZUpstream = z.discriminatedUnion('transport', [ZStdioUpstream, ZHttpUpstream]);
export type UpstreamConfig = z.infer<typeof ZUpstream>;

export const ZConfig = z
  .object({
    /** Public base URL of the console, used in messages that tell agents where a call awaits review. */
    publicUrl: z.url().optional(),
    // names are checked below: a record key's own error would not say what a name may be
    upstreams: z.record(z.string(), ZUpstream).default({}),
    rules: z.array(ZRule).default([]),
    /** Serve the built-in `demo` upstream (default true). */
    demo: z.boolean().default(true),
    /** Agents' MCP sessions in each Airlock process (each may run an upstream process of its own). */
    sessions: z
      .object({
        /** A session with nothing in flight for this long is closed, with its upstream (minutes). */
        idleMinutes: z
          .number()
          .positive()
          .max(7 * 24 * 60)
          .default(30),
        /** Most sessions open at once in one process. */
        max: z.number().int().positive().max(100_000).default(500),
        /** Most sessions open at once for one agent: one leaking or hijacked agent cannot take them all. */
        maxPerAgent: z.number().int().positive().max(100_000).default(50),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const name of Object.keys(config.upstreams)) {
      const result = ZUpstreamName.safeParse(name);
      if (!result.success) ctx.addIssue({ code: 'custom', path: ['upstreams', name], message: result.error.issues[0].message });
    }
    const ids = new Set<string>();
    for (const [index, rule] of config.rules.entries()) {
      if (ids.has(rule.id)) ctx.addIssue({ code: 'custom', path: ['rules', index, 'id'], message: `duplicate rule id "${rule.id}"` });
      ids.add(rule.id);
    }
  });

export type Config = z.infer<typeof ZConfig>;
export type ConfigInput = z.input<typeof ZConfig>;
