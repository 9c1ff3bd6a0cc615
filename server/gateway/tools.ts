import type { JSONRPCMessage, Tool } from '@modelcontextprotocol/sdk/types.js';
import { isResult } from './messages';

/** A bound on pagination, against an upstream that hands out cursors forever. */
const MAX_PAGES = 100;
/** Reads begun again because the list changed during one, before giving up (fail closed). */
const MAX_REREADS = 5;

type Request = (method: string, params?: Record<string, unknown>) => Promise<JSONRPCMessage>;

/**
 * The tool definitions one session's upstream has listed. Policy needs a tool's
 * annotations, and an approval binds the hash of its definition (invariant 2), so a call
 * to a tool not seen yet triggers a full `tools/list` of Airlock's own.
 */
export class ToolCatalog {
  private tools = new Map<string, Tool>();
  /** True once a complete listing is known and no `list_changed` has arrived since. */
  private complete = false;
  private refreshing?: Promise<void>;
  /** When the read in progress, or the last complete one, began (performance.now()); null if none counts. */
  private readStartedAt: number | null = null;
  /** Counts `list_changed` notifications: a read during which it moved is out of date. */
  private generation = 0;

  constructor(
    private readonly request: Request,
    private readonly onListed: (tools: Tool[]) => void = () => {},
  ) {}

  /** Record definitions seen in any tools/list response passing through. */
  remember(tools: Tool[]): void {
    for (const tool of tools) if (tool && typeof tool.name === 'string') this.tools.set(tool.name, tool);
  }

  /** The upstream said its tools changed: every cached definition is suspect. */
  invalidate(): void {
    this.generation++;
    this.complete = false;
    this.readStartedAt = null;
  }

  /** The current definition of a tool, listing the upstream's tools when it is unknown or stale. */
  async find(name: string): Promise<Tool | undefined> {
    if (this.complete && this.tools.has(name)) return this.tools.get(name);
    // stale, or a tool added without a list_changed notification: list again before refusing
    await this.refresh();
    return this.tools.get(name);
  }

  /**
   * Re-read the full tool list (e.g. before executing an approved call). With `maxAgeMs`, a
   * read begun at most that long ago, in progress or complete, with no `list_changed` since, serves.
   */
  async refresh(maxAgeMs = 0): Promise<void> {
    const recent = this.readStartedAt !== null && performance.now() - this.readStartedAt <= maxAgeMs;
    if (recent && (this.refreshing || this.complete)) return this.refreshing;
    if (!this.refreshing) {
      this.refreshing = this.load()
        .catch((error: unknown) => {
          this.readStartedAt = null;
          throw error;
        })
        .finally(() => {
          this.refreshing = undefined;
        });
    }
    return this.refreshing;
  }

  /**
   * Read the list until one read saw no `list_changed` meanwhile: an answer sent before the
   * change may arrive after its notification (on another stream, over HTTP), and must not
   * stand for the new list (invariant 2).
   */
  private async load(): Promise<void> {
    for (let read = 0; read <= MAX_REREADS; read++) {
      const generation = this.generation;
      this.readStartedAt = performance.now();
      const next = await this.list();
      if (generation !== this.generation) continue;
      this.tools = next;
      this.complete = true;
      this.onListed([...next.values()]);
      return;
    }
    throw new Error(`the tool list changed during each of ${MAX_REREADS + 1} reads`);
  }

  private async list(): Promise<Map<string, Tool>> {
    const next = new Map<string, Tool>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const response = await this.request('tools/list', cursor ? { cursor } : undefined);
      if (!isResult(response)) {
        const error = 'error' in response ? (response.error as { message?: string }).message : 'no result';
        throw new Error(`tools/list failed: ${error}`);
      }
      const tools = (response.result.tools ?? []) as Tool[];
      for (const tool of tools) if (tool && typeof tool.name === 'string') next.set(tool.name, tool);
      cursor = typeof response.result.nextCursor === 'string' ? response.result.nextCursor : undefined;
      if (!cursor) break;
    }
    return next;
  }
}
