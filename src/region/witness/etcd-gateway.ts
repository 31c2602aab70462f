/**
 * A small client for etcd's v3 HTTP/JSON gateway (POST /v3/...): lease grant,
 * keep-alive and revoke, range and txn with base64 keys and values. No
 * consensus of our own: every decision is etcd's (a txn compares and writes
 * atomically through its Raft quorum; reads are linearizable).
 *
 * Endpoints are tried in turn, starting with the last one that answered; a
 * member that does not answer, or answers that it has no leader (it is cut
 * off from the majority), makes the client try the next. An etcd error that
 * is an answer (e.g. "requested lease not found") is thrown as EtcdError.
 */
import { readFileSync } from 'node:fs';
import { httpCall } from '../../core/http-client.js';

export interface EtcdKv {
  key: string;
  value: string;
  /** Lease ID ('0': none). */
  lease: string;
  createRevision: string;
  modRevision: string;
}

export class EtcdError extends Error {
  constructor(message: string, readonly code: number | null) { super(message); }
}

/** No member answered (all unreachable, timed out, or without a leader): the quorum may come back (an election). */
export class EtcdUnreachable extends Error {}

export type Compare =
  | { key: string; target: 'CREATE'; createRevision: string }
  | { key: string; target: 'MOD'; modRevision: string }
  | { key: string; target: 'VALUE'; value: string };

export type Op =
  | { put: { key: string; value: string; lease?: string } }
  | { range: { key: string } }
  | { delete: { key: string } };

export interface TxnResult { succeeded: boolean; ranges: Array<EtcdKv | null> }

export interface EtcdGatewayOptions { endpoints: string[]; timeoutMs: number; caFile?: string }

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

function toKv(k: Record<string, string>): EtcdKv {
  return { key: unb64(k.key), value: unb64(k.value), lease: k.lease ?? '0', createRevision: k.create_revision ?? '0', modRevision: k.mod_revision ?? '0' };
}

/** gRPC codes meaning "this member cannot answer now; ask another": Unavailable, DeadlineExceeded, Unknown (no leader). */
const RETRY_ELSEWHERE = new Set([2, 4, 14]);

export class EtcdGateway {
  private preferred = 0;
  private readonly ca: string | undefined;

  constructor(private readonly o: EtcdGatewayOptions) {
    if (o.endpoints.length === 0) throw new Error('etcd: no endpoints');
    this.ca = o.caFile ? readFileSync(o.caFile, 'utf8') : undefined;
  }

  /** The endpoint that answered last. */
  get endpoint(): string { return this.o.endpoints[this.preferred]!; }

  private async call<T>(path: string, body: unknown): Promise<T> {
    const n = this.o.endpoints.length;
    const errors: string[] = [];
    for (let i = 0; i < n; i++) {
      const idx = (this.preferred + i) % n;
      const base = this.o.endpoints[idx]!.replace(/\/+$/, '');
      let r;
      try {
        r = await httpCall(`${base}${path}`, { method: 'POST', json: body, ca: this.ca, timeoutMs: this.o.timeoutMs });
      } catch (e) {
        errors.push(`${base}: ${(e as Error).message}`);
        continue;
      }
      const parsed = (typeof r.body === 'object' && r.body !== null && !Buffer.isBuffer(r.body) ? r.body : {}) as Record<string, unknown>;
      const code = typeof parsed.code === 'number' ? parsed.code : null;
      if (r.status >= 500 || (code !== null && RETRY_ELSEWHERE.has(code))) {
        errors.push(`${base}: ${r.status} ${String(parsed.message ?? parsed.error ?? '')}`.trim());
        continue;
      }
      this.preferred = idx;
      if (r.status !== 200 || parsed.error !== undefined) {
        throw new EtcdError(`etcd ${path}: ${String(parsed.message ?? parsed.error ?? r.status)}`, code);
      }
      return parsed as T;
    }
    throw new EtcdUnreachable(`etcd ${path}: no member answered (${errors.join('; ')})`);
  }

  /** Grants a lease; returns its ID (decimal string) and TTL. */
  async grant(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const r = await this.call<{ ID: string; TTL: string }>('/v3/lease/grant', { TTL: ttlSeconds });
    return { id: String(r.ID), ttl: Number(r.TTL) };
  }

  /** Renews a lease; returns its TTL, 0 when it has expired (or was revoked). */
  async keepAlive(id: string): Promise<number> {
    const r = await this.call<{ result?: { TTL?: string } }>('/v3/lease/keepalive', { ID: id });
    return Number(r.result?.TTL ?? 0);
  }

  /** Revokes a lease (its keys are deleted); a lease already gone is fine. */
  async revoke(id: string): Promise<void> {
    try {
      await this.call('/v3/lease/revoke', { ID: id });
    } catch (e) {
      if (!(e instanceof EtcdError && /not found/.test(e.message))) throw e;
    }
  }

  async get(key: string): Promise<EtcdKv | null> {
    const r = await this.call<{ kvs?: Array<Record<string, string>> }>('/v3/kv/range', { key: b64(key) });
    return r.kvs?.[0] ? toKv(r.kvs[0]) : null;
  }

  /** An atomic compare-and-act: `success` when every comparison holds, `failure` otherwise. Range results in order. */
  async txn(compare: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    const cmp = compare.map((c) => (c.target === 'CREATE' ? { target: 'CREATE', result: 'EQUAL', key: b64(c.key), create_revision: c.createRevision }
      : c.target === 'MOD' ? { target: 'MOD', result: 'EQUAL', key: b64(c.key), mod_revision: c.modRevision }
        : { target: 'VALUE', result: 'EQUAL', key: b64(c.key), value: b64(c.value) }));
    const ops = (list: Op[]) => list.map((op) => ('put' in op ? { request_put: { key: b64(op.put.key), value: b64(op.put.value), ...(op.put.lease ? { lease: op.put.lease } : {}) } }
      : 'range' in op ? { request_range: { key: b64(op.range.key) } } : { request_delete_range: { key: b64(op.delete.key) } }));
    const r = await this.call<{ succeeded?: boolean; responses?: Array<{ response_range?: { kvs?: Array<Record<string, string>> } }> }>(
      '/v3/kv/txn', { compare: cmp, success: ops(success), failure: ops(failure) });
    const ranges = (r.responses ?? []).filter((x) => x.response_range !== undefined).map((x) => (x.response_range!.kvs?.[0] ? toKv(x.response_range!.kvs[0]) : null));
    return { succeeded: r.succeeded === true, ranges };
  }
}
