/**
 * The main-thread side of the SQLite inventory reader: a worker thread
 * (sqlite-reader-worker.ts) with its own read-only connection runs the
 * inventory queries, so a name search, a count or an export never blocks
 * the thread that answers OCSP. Started on the first query; it holds the
 * process open only while a query is in flight. A worker that dies fails
 * its queries with a clear 'unavailable' error and the next query starts a
 * new one. An in-memory database cannot be opened by a second connection:
 * its queries run on the calling thread.
 */
import type Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';
import { RampartError, type ErrorCode } from '../../core/errors.js';
import type { Row } from '../row-mapping.js';
import { checkFilter } from '../inventory-query.js';
import { countMatches, selectRows, textBatch, type InventoryQuery } from './sqlite-inventory.js';
import type { ExportTextOptions } from '../inventory-format.js';
import { revokedStep, type RevokedScan, type RevokedStep } from './sqlite-revoked-scan.js';

export type ReaderRequest =
  | { id: number; op: 'count'; q: InventoryQuery }
  | { id: number; op: 'rows'; q: InventoryQuery; afterSeq: number; limit: number; der: boolean }
  | { id: number; op: 'text'; q: InventoryQuery; afterSeq: number; limit: number; fmt: ExportTextOptions }
  | { id: number; op: 'all'; sql: string; params: unknown[] }
  | { id: number; op: 'revoked'; scan: RevokedScan };
export type ReaderReply = { id: number; result: unknown; error?: undefined } | { id: number; error: { message: string; code?: string } };

const ENTRY = new URL('./sqlite-reader-entry.mjs', import.meta.url);

interface Pending { resolve: (v: unknown) => void; reject: (e: unknown) => void }
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export class SqliteReader {
  private worker: Worker | null = null;
  private readonly inFlight = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Workers started so far (a replaced one counts again). */
  started = 0;

  /** `path` ':memory:' runs the queries on `local` (the store's own connection) instead. */
  constructor(private readonly path: string, private readonly local: Database.Database) {}

  count(q: InventoryQuery): Promise<number> {
    checkFilter(q.filter);
    if (this.path === ':memory:') return Promise.resolve(countMatches(this.local, q));
    return this.call({ op: 'count', q }) as Promise<number>;
  }

  rows(q: InventoryQuery, afterSeq: number, limit: number, der: boolean): Promise<Row[]> {
    checkFilter(q.filter);
    if (this.path === ':memory:') return Promise.resolve(selectRows(this.local, q, afterSeq, limit, der));
    return this.call({ op: 'rows', q, afterSeq, limit, der }) as Promise<Row[]>;
  }

  /** One export batch formatted in the worker: the main thread only passes the text on. */
  text(q: InventoryQuery, afterSeq: number, limit: number, fmt: ExportTextOptions): Promise<{ text: string; rows: number; lastSeq: number }> {
    checkFilter(q.filter);
    if (this.path === ':memory:') return Promise.resolve(textBatch(this.local, q, afterSeq, limit, fmt));
    return this.call({ op: 'text', q, afterSeq, limit, fmt }) as Promise<{ text: string; rows: number; lastSeq: number }>;
  }

  /**
   * Rows of one of the store's own read statements (never text from a
   * request: callers pass SQL they wrote and values as parameters), read in
   * the worker. The CRL builder reads its revoked entries this way, chunk by
   * chunk (sqlite-crls.ts).
   */
  all(sql: string, params: unknown[]): Promise<Row[]> {
    if (this.path === ':memory:') return Promise.resolve(this.local.prepare(sql).all(...params) as Row[]);
    return this.call({ op: 'all', sql, params }) as Promise<Row[]>;
  }

  /**
   * One step of a CRL scope's revoked entries (sqlite-revoked-scan.ts), read
   * and joined in the worker: the entries arrive as one transferred buffer.
   */
  revoked(scan: RevokedScan): Promise<RevokedStep> {
    if (this.path === ':memory:') return Promise.resolve(revokedStep((sql) => this.local.prepare(sql), scan));
    return this.call({ op: 'revoked', scan }) as Promise<RevokedStep>;
  }

  /** The running worker's thread id, or null (diagnostics and tests). */
  get threadId(): number | null { return this.worker?.threadId ?? null; }

  /** Ends the worker as if it had crashed (tests: its queries fail, the next one starts another). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    this.failAll(new RampartError('unavailable', 'the store is closing'));
    await w?.terminate();
  }

  private call(req: DistributiveOmit<ReaderRequest, 'id'>): Promise<unknown> {
    if (this.closed) return Promise.reject(new RampartError('unavailable', 'the store is closed'));
    const w = this.worker ?? this.spawn();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.inFlight.size) w.ref();
      this.inFlight.set(id, { resolve, reject });
      w.postMessage({ ...req, id });
    });
  }

  private spawn(): Worker {
    const w = new Worker(ENTRY, { workerData: { path: this.path } });
    this.worker = w;
    this.started++;
    w.unref();
    w.on('message', (m: ReaderReply) => {
      const p = this.inFlight.get(m.id);
      if (!p) return;
      this.inFlight.delete(m.id);
      if (!this.inFlight.size) w.unref();
      if (m.error) p.reject(m.error.code ? new RampartError(m.error.code as ErrorCode, m.error.message) : new Error(`inventory query failed: ${m.error.message}`));
      else p.resolve(m.result);
    });
    const died = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      if (!this.closed) this.failAll(new RampartError('unavailable', `the inventory reader thread stopped (${why}); retry the request`));
    };
    w.on('error', (e) => died(e.message));
    w.on('exit', (code) => died(`exit code ${code}`));
    return w;
  }

  private failAll(e: Error): void {
    for (const p of this.inFlight.values()) p.reject(e);
    this.inFlight.clear();
  }
}
