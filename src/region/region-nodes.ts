/** A region's Rampart nodes as the failover commands see them: over HTTP, by /readyz. */
import { httpCall } from '../core/http-client.js';

export interface SiteNode { http: string; https: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ready(n: SiteNode, write: boolean): Promise<boolean> {
  try {
    return (await httpCall(`${n.http}/readyz${write ? '?write=1' : ''}`, { timeoutMs: 3000 })).status === 200;
  } catch {
    return false;
  }
}

/** How many of the nodes answer /readyz (or /readyz?write=1) with 200. */
export async function countReady(nodes: SiteNode[], write = false): Promise<number> {
  return (await Promise.all(nodes.map((n) => ready(n, write)))).filter(Boolean).length;
}

/** Waits until at least one node takes writes; returns "k/n writable". */
export async function waitWritable(region: string, nodes: SiteNode[], timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const k = await countReady(nodes, true);
    if (k > 0) return `${k}/${nodes.length} writable`;
    if (Date.now() > deadline) throw new Error(`no node of region ${region} became writable within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(200);
  }
}

/** The first node that takes writes now. */
export async function firstWritable(nodes: SiteNode[]): Promise<SiteNode> {
  for (const n of nodes) if (await ready(n, true)) return n;
  throw new Error('no writable node to verify issuance on');
}
