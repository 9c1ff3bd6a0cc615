import type { Database } from '../../db/database';
import type { AuditWriter } from '../audit/writer';
import type { UpstreamConfig } from '../config/schema';
import type { Rule } from '../policy/types';
import type { HoldRegistry } from './holds';
import type { SharedUpstreams } from './shared-upstream';

/** What every gateway session shares within one process. */
export type GatewayContext = {
  database: Database;
  audit: AuditWriter;
  holds: HoldRegistry;
  /** Current policy rules (ordered, first match wins); read at each call so a reload applies at once. */
  rules: () => readonly Rule[];
  upstreams: () => Readonly<Record<string, UpstreamConfig>>;
  /** The connections of upstreams marked `shared: true`, one each for all sessions. */
  shared: SharedUpstreams;
  /** Base URL of the console, quoted to agents so a person knows where to review. */
  publicUrl: string;
  /** Identifies this process among instances sharing one PostgreSQL. */
  instanceId: string;
  /** Record the full tool list an upstream served (a snapshot for the console; changes audited). */
  recordTools: (upstream: string, tools: unknown[]) => void;
  /** Interval of `notifications/progress` while a call is held (ms). */
  progressIntervalMs: number;
  /** How long a POST's SSE headers wait for its first event (ms). */
  headersWaitMs: number;
};

/** The authenticated MCP client of a session. */
export type AgentIdentity = { id: string; name: string; ownerId: string };
