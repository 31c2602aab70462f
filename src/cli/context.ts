/** Shared CLI plumbing: global options, opening the node, output in human or JSON form. */
import pino from 'pino';
import { loadConfigDetailed } from '../config/load.js';
import type { RampartConfig } from '../config/schema.js';
import { RampartError } from '../core/errors.js';
import { RampartNode } from '../main/node.js';
import type { Actor } from '../core/actor.js';
import { userInfo } from 'node:os';

export interface GlobalOptions {
  dataDir?: string;
  config?: string;
  json?: boolean;
}

export function loadCliConfig(g: GlobalOptions, overrides: Record<string, unknown> = {}): RampartConfig {
  return loadConfigDetailed({ file: g.config, overrides: { ...(g.dataDir ? { dataDir: g.dataDir } : {}), ...overrides } }).config;
}

export async function openNode(g: GlobalOptions, opts: { createSecret?: boolean; overrides?: Record<string, unknown>; logLevel?: string } = {}): Promise<RampartNode> {
  const config = loadCliConfig(g, opts.overrides);
  const logger = pino({ level: opts.logLevel ?? (process.env.RAMPART_LOG__LEVEL ? config.log.level : 'warn') }, pino.destination(2));
  return RampartNode.open({ config, logger, createSecret: opts.createSecret });
}

export function cliActor(): Actor {
  let user = 'unknown';
  try { user = userInfo().username; } catch { /* no passwd entry */ }
  return { id: `cli:${user}`, role: 'admin', source: 'local', channel: 'cli' };
}

export function out(g: GlobalOptions, data: unknown, human: () => string): void {
  process.stdout.write(g.json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

/**
 * As withNode, for administrative writes (tokens, operators, EAB keys): refused
 * when the node's region does not take writes (a replica region, or one
 * fenced after a failover), where the write would be discarded at failback.
 */
export async function withWritableNode<T>(g: GlobalOptions, fn: (node: RampartNode) => Promise<T>, opts: Parameters<typeof openNode>[1] = {}): Promise<T> {
  return withNode(g, async (node) => {
    const region = node.region;
    if (region && !region.writable()) {
      throw new RampartError('notWritable', `region ${region.region} does not accept writes now: ${region.status().reason}`);
    }
    return fn(node);
  }, opts);
}

/** Runs a command body with the node open, closing it afterwards. */
export async function withNode<T>(g: GlobalOptions, fn: (node: RampartNode) => Promise<T>, opts: Parameters<typeof openNode>[1] = {}): Promise<T> {
  const node = await openNode(g, opts);
  try {
    return await fn(node);
  } finally {
    await node.close();
  }
}
