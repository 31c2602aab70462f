/**
 * The PostgreSQL connection pool behind PostgresStore (postgres.js), with the
 * retry loop that carries in-flight work across a database failover.
 *
 * Finding the primary. postgres.js takes several hosts and tries them in
 * order; with target_session_attrs it checks each new connection and moves
 * on when the server does not fit. Checked against PostgreSQL 15 with
 * postgres.js 3.4: its 'read-write' test looks only at
 * default_transaction_read_only, which is 'off' on a hot standby (a standby
 * is read-only through transaction_read_only, not that setting), so
 * 'read-write' happily connects to a standby. We therefore ask postgres.js
 * for 'primary' (in_hot_standby = off) when the configuration says
 * 'read-write'; a primary that is read-only by configuration is still caught,
 * later, by the 25006 retry below. After a failover, new connections find the
 * promoted standby by themselves: while no listed host fits, postgres.js
 * keeps cycling through the list and the query waits; once one is promoted
 * it connects there. (It cycles without pausing: about 15% of a core here
 * while no host fits.)
 *
 * That wait has no end of its own (with several hosts postgres.js neither
 * gives up nor applies its connect_timeout to the whole cycle), so every
 * attempt is raced against the retry deadline (each attempt gets at least
 * connectTimeoutSeconds, so a merely slow query is not cut short); when the
 * deadline passes, the pool is ended (which rejects the stuck queries, so
 * they cannot run later behind the caller's back) and replaced by a fresh
 * one.
 *
 * Retrying. run() repeats an operation on transient errors (connection
 * refused/reset/closed, 08xxx, 57P01/57P02/57P03, 25006 read-only
 * transaction, 40001 serialization failure, 40P01 deadlock, 53300 too many
 * connections) with jittered exponential backoff, for at most retryForMs in
 * total. An error during COMMIT leaves the outcome unknown: the commit may
 * have happened just before the connection dropped. Operations therefore
 * receive `retried`, true once an earlier attempt failed that way, and must
 * make a repeat harmless (see PostgresStore for each write). 25006 means we
 * reached a server that cannot write (a demoted or read-only primary): the
 * pool is replaced (at most once every 2 s, see recycleReadOnly) so that
 * later attempts open new connections, which look for the primary again.
 */
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { RampartError } from '../../core/errors.js';
import { watchMonitorPrimary } from './monitor-primary.js';

export type TargetSessionAttrs = 'read-write' | 'any' | 'primary' | 'standby' | 'prefer-standby';

export interface PgPoolOptions {
  /** 'host:port' or '[v6]:port' (port defaults to 5432), tried in order. */
  hosts: string[];
  database: string;
  user: string;
  password?: string;
  /** Which server to connect to when several are listed (default 'read-write'). */
  targetSessionAttrs?: TargetSessionAttrs;
  /** Most connections in the pool (default 10). */
  max?: number;
  /** Per-host connect timeout in seconds (default 5). */
  connectTimeoutSeconds?: number;
  /** Total time an operation may spend retrying transient errors (default 30000; 0 = one attempt). */
  retryForMs?: number;
  /** application_name reported to the server (default 'rampart'). */
  applicationName?: string;
  /** Called before each retry (logging, metrics, tests). */
  onRetry?: (e: RetryEvent) => void;
  /** pg_auto_failover's monitor: new connections go first to the node it names primary (monitor-primary.ts). */
  monitor?: { uri: string; formation: string; group: number; everyMs: number };
  /** Called when the monitor names another primary, or cannot be asked (logging). */
  onMonitor?: (e: { primary?: string; error?: unknown }) => void;
}

export interface RetryEvent {
  op: string;
  /** The attempt that failed (1 = first). */
  attempt: number;
  /** SQLSTATE or connection error code ('' when unknown). */
  code: string;
  error: unknown;
  delayMs: number;
}

export interface Attempt {
  /** 1-based attempt number. */
  attempt: number;
  /** True when an earlier attempt failed transiently: its COMMIT may have happened. */
  retried: boolean;
}

const TRANSIENT_CODES = new Set([
  // connection level (node, postgres.js)
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'EADDRNOTAVAIL', 'EAI_AGAIN', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  // SQLSTATE
  '57P01', // admin_shutdown (fast shutdown, or a backend terminated during failover)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, in recovery without hot standby)
  '25006', // read_only_sql_transaction: we reached a standby or a read-only primary
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
]);

/** Errors after which the connection is gone (the socket closes with them). */
const CONNECTION_LOSS_CODES = new Set([
  'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', '57P01', '57P02',
]);

/** The SQLSTATE or connection error code of an error ('' when it has none). */
export function errorCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

/** Whether an operation that failed with `e` may succeed when tried again. */
export function isTransient(e: unknown): boolean {
  if (e instanceof RampartError) return false;
  const code = errorCode(e);
  return TRANSIENT_CODES.has(code) || code.startsWith('08');
}

/** Whether `e` means the connection it happened on is gone. */
export function isConnectionLoss(e: unknown): boolean {
  const code = errorCode(e);
  return CONNECTION_LOSS_CODES.has(code) || code.startsWith('08');
}

/**
 * sql.begin, made safe against a connection that dies mid-transaction.
 *
 * postgres.js 3.4.9 writes to a connection whose socket is already gone when
 * anything is sent on it after it closed, and that throws a TypeError from a
 * setImmediate callback ("Cannot read properties of null (reading 'write')",
 * porsager/postgres#1154 and #1208, unfixed): an uncaught exception that
 * kills the node, exactly during a database failover. Inside begin() three
 * things can send after the close: the ROLLBACK it answers an error with,
 * the COMMIT after `fn` returns, and a statement of `fn` itself when `fn` was
 * waiting on something else (a timer, a child process) when the connection
 * closed. So once the connection is lost (a statement failed with a
 * connection error, or begin() itself rejected because the socket closed),
 * nothing more is sent: later statements of `fn` never settle, and neither
 * does `fn`, so begin() sends neither ROLLBACK nor COMMIT; it rejects by
 * itself with CONNECTION_CLOSED, and the server rolls the transaction back
 * as the session ends. `options` is begin()'s mode ('isolation level ...').
 */
export function transaction<T>(sql: Sql, fn: (tx: TransactionSql) => Promise<T>, options = ''): Promise<T> {
  let lost = false;
  const never = (): Promise<never> => new Promise<never>(() => undefined);
  const p = sql.begin(options, async (tx) => {
    let result: T;
    try {
      result = await fn(guardTx(tx, () => lost));
    } catch (e) {
      if (lost || isConnectionLoss(e)) { lost = true; return never(); }
      throw e;
    }
    if (lost) return never();
    return result;
  }) as Promise<T>;
  p.catch(() => { lost = true; });
  return p;
}

/** `tx` whose statements (tagged templates and unsafe()) never go out once `isLost()`. */
function guardTx(tx: TransactionSql, isLost: () => boolean): TransactionSql {
  const never = (): Promise<never> => new Promise<never>(() => undefined);
  return new Proxy(tx, {
    apply(target, thisArg, args: unknown[]) {
      const first = args[0];
      if (isLost() && Array.isArray(first) && 'raw' in first) return never();
      return Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args);
    },
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (prop === 'unsafe' && typeof v === 'function') {
        return (...a: unknown[]) => (isLost() ? never() : (v as (...x: unknown[]) => unknown).apply(target, a));
      }
      return v;
    },
  });
}

export function parseHost(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(s.trim());
  const port = m?.[3] === undefined ? 5432 : Number(m[3]);
  if (!m || port < 1 || port > 65535) throw new Error(`bad database host "${s}": expected host:port`);
  return { host: m[1] ?? m[2]!, port };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Least time between two pool replacements caused by 25006 (see recycleReadOnly). */
const READ_ONLY_RECYCLE_MS = 2000;

/**
 * The server gives up on a client it cannot reach within ~11 s (TCP
 * keepalive probes every 2 s after 5 s of silence, 3 unanswered; 10 s for
 * unacknowledged data), instead of the kernel's two hours. A node cut off in
 * the middle of a statement leaves its backend waiting to read the rest of
 * it (state active, ClientRead), which idle_in_transaction_session_timeout
 * does not cover, holding what the transaction locked, the lease row among
 * them: the fault lab saw the peer never take over. Startup parameters, so
 * every connection of every pool has them (user-settable, no privilege).
 */
const SERVER_SIDE_DEAD_CLIENT = { tcp_keepalives_idle: '5', tcp_keepalives_interval: '2', tcp_keepalives_count: '3', tcp_user_timeout: '10000' } as const;

export class PgPool {
  /** Every pool not closed yet in this process (see recycleAll). */
  private static readonly live = new Set<PgPool>();

  /**
   * Replaces the postgres.js pool of every open PgPool in this process
   * (queries in flight get `graceSeconds` to finish). After postgres.js threw
   * from inside one of its connections (process-guard.ts), that connection
   * object may keep a half-written message: fresh pools leave it behind.
   * Returns how many pools were recycled.
   */
  static recycleAll(graceSeconds = 5): number {
    let n = 0;
    for (const p of PgPool.live) {
      if (!p.closed) { p.recycle(p.current.gen, graceSeconds); n++; }
    }
    return n;
  }

  private current: { sql: Sql; gen: number };
  private readonly ending = new Set<Promise<void>>();
  private closed = false;
  readonly retryForMs: number;
  private readonly minAttemptMs: number;
  readonly hosts: Array<{ host: string; port: number }>;

  constructor(private readonly opts: PgPoolOptions) {
    if (opts.hosts.length === 0) throw new Error('PostgreSQL needs at least one host');
    this.hosts = opts.hosts.map(parseHost);
    this.retryForMs = opts.retryForMs ?? 30_000;
    // However little retry time is left, an attempt may take one connect
    // timeout: a query that is merely slow is not cut off at once.
    this.minAttemptMs = (opts.connectTimeoutSeconds ?? 5) * 1000;
    this.current = { sql: this.open(0), gen: 0 };
    PgPool.live.add(this);
    const m = opts.monitor;
    if (m) {
      this.stopMonitor = watchMonitorPrimary({
        ...m, onPrimary: (host, port) => this.preferPrimary(host, port),
        onError: (error) => opts.onMonitor?.({ error }),
      });
    }
  }

  private stopMonitor: (() => Promise<void>) | undefined;
  /** Index in `hosts` of the host new connections try first (the monitor's primary). */
  private first = 0;

  /**
   * Makes `host:port` the first host new connections try, when it is listed
   * and not first already: the pool is replaced (its connections to the old
   * host end within a second; operations caught there are retried, as after
   * any lost connection). target_session_attrs still checks the host.
   */
  preferPrimary(host: string, port: number): void {
    const i = this.hosts.findIndex((h) => h.host === host && h.port === port);
    if (i < 0 || i === this.first || this.closed) return;
    this.first = i;
    this.opts.onMonitor?.({ primary: `${host}:${port}` });
    this.recycle(this.current.gen, 1);
  }

  /** The hosts in the order new connections try them: the preferred one first, then the others as configured. */
  private ordered(): Array<{ host: string; port: number }> {
    return [this.hosts[this.first]!, ...this.hosts.filter((_, i) => i !== this.first)];
  }

  /** Generation of the current postgres.js pool: 0 at first, +1 at every recycle. */
  get generation(): number {
    return this.current.gen;
  }

  /** application_name of a pool generation: the base name, and the generation after a recycle. */
  private appName(gen: number): string {
    const base = this.opts.applicationName ?? 'rampart';
    return gen === 0 ? base : `${base.slice(0, 50)} #${gen}`;
  }

  private open(gen: number): Sql {
    const tsa = this.opts.targetSessionAttrs ?? 'read-write';
    return postgres({
      // Arrays of hosts and ports are supported at run time (BaseOptions),
      // but Options narrows them to one string and number: hence the cast.
      host: this.ordered().map((h) => h.host) as unknown as string,
      port: this.ordered().map((h) => h.port) as unknown as number,
      database: this.opts.database,
      user: this.opts.user,
      ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
      max: this.opts.max ?? 10,
      connect_timeout: this.opts.connectTimeoutSeconds ?? 5,
      // See the header: postgres.js' own 'read-write' accepts hot standbys.
      target_session_attrs: tsa === 'any' ? undefined : tsa === 'read-write' ? 'primary' : tsa,
      // fetch_types stays on (default): with it off, postgres.js 3.4.9 never
      // resolves a reserve() that has to open a new connection.
      onnotice: () => undefined,
      connection: { application_name: this.appName(gen), ...SERVER_SIDE_DEAD_CLIENT },
    });
  }

  /** Whether new connections look for a writable primary (else a standby is fine and 25006 is final). */
  seeksPrimary(): boolean {
    const tsa = this.opts.targetSessionAttrs ?? 'read-write';
    return tsa === 'read-write' || tsa === 'primary';
  }

  /** The current pool, for code that runs its own single attempt. */
  get sql(): Sql {
    if (this.closed) throw new RampartError('unavailable', 'the PostgreSQL store is closed');
    return this.current.sql;
  }

  /** Replaces the pool of generation `gen` (no-op if already replaced). `graceSeconds` 0 aborts its queries now. */
  private recycle(gen: number, graceSeconds: number): void {
    if (this.closed || this.current.gen !== gen) return;
    const old = this.current.sql;
    this.current = { sql: this.open(gen + 1), gen: gen + 1 };
    this.endLater(old, graceSeconds);
    this.retired.push({ name: this.appName(gen), until: Date.now() + 300_000 });
    this.scheduleSweep(graceSeconds);
  }

  /**
   * Connections of an ended pool that were still connecting when it ended
   * can come back: postgres.js 3.4.9 reconnects a connection that closes
   * during its start-up (a host that is not the primary, with several hosts
   * listed) even after end(), and the connection then stays open, idle, in
   * a pool nobody uses. A failover with many recycles leaked enough of them
   * to use up max_connections (test/db-failover.test.ts). So every pool
   * generation has its own application_name, and for five minutes after a
   * recycle the current pool terminates this role's backends that carry a
   * retired generation's name (allowed for one's own role).
   */
  private readonly retired: Array<{ name: string; until: number }> = [];
  private sweepTimer: NodeJS.Timeout | undefined;

  private scheduleSweep(afterSeconds: number): void {
    if (this.sweepTimer || this.closed) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      void this.sweep().finally(() => {
        const now = Date.now();
        this.retired.splice(0, this.retired.length, ...this.retired.filter((r) => r.until > now));
        if (this.retired.length) this.scheduleSweep(10);
      });
    }, Math.max(2, afterSeconds + 1) * 1000);
    this.sweepTimer.unref();
  }

  private async sweep(): Promise<void> {
    if (this.closed || !this.retired.length) return;
    const names = this.retired.map((r) => r.name);
    const work = this.current.sql`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE usename = current_user AND pid <> pg_backend_pid() AND application_name = ANY(${names})`;
    await Promise.race([work, new Promise((r) => setTimeout(r, 5000).unref())]).catch(() => undefined);
    work.catch(() => undefined);
  }

  /** When the pool last replaced itself after a 25006 (epoch ms). */
  private readOnlyRecycledAt = 0;

  /**
   * A 25006 replaces the pool so that new connections look for the primary
   * again, at most once per READ_ONLY_RECYCLE_MS. pg_auto_failover promotes
   * a standby with writes still refused (default_transaction_read_only, until
   * the old primary is known to be fenced): in_hot_standby is already off, so
   * every fresh pool reaches the same server and gets 25006 again. Replacing
   * the pool at every such error made dozens of pools a second per node, each
   * with its connections (86 client connections at the peak on a 200-slot
   * server in test/db-failover.test.ts, 60 with this limit): the likeliest
   * cause of a CI run whose nodes never wrote again after a promotion.
   */
  private recycleReadOnly(gen: number): void {
    const now = Date.now();
    if (now - this.readOnlyRecycledAt < READ_ONLY_RECYCLE_MS) return;
    this.readOnlyRecycledAt = now;
    this.recycle(gen, 5);
  }

  private endLater(sql: Sql, graceSeconds: number): void {
    const p = sql.end({ timeout: graceSeconds }).catch(() => undefined).finally(() => this.ending.delete(p));
    this.ending.add(p);
  }

  /**
   * Runs `fn` until it succeeds, fails with a non-transient error, or
   * retryForMs has passed (then RampartError 'unavailable'). Each attempt
   * gets the pool current at its start.
   */
  async run<T>(op: string, fn: (sql: Sql, a: Attempt) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryForMs;
    let retried = false;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new RampartError('unavailable', 'the PostgreSQL store is closed');
      const { sql, gen } = this.current;
      let timer: NodeJS.Timeout | undefined;
      const work = fn(sql, { attempt, retried });
      try {
        const expired = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DeadlineError()), Math.max(this.minAttemptMs, deadline - Date.now()));
        });
        return await Promise.race([work, expired]);
      } catch (e) {
        if (e instanceof DeadlineError) {
          // The attempt is stuck (e.g. no listed host is a primary): end its
          // pool so the queued work is rejected and cannot run later.
          work.catch(() => undefined);
          this.recycle(gen, 0);
          throw unavailable(op, attempt, this.retryForMs, undefined);
        }
        if (errorCode(e) === '25006' && !this.seeksPrimary()) {
          // No other server to look for: a pool allowed to use a standby (a
          // replica region's nodes) will reach the same standby again.
          throw new RampartError('notWritable', `${op}: the database is a read-only replica (this region has not been promoted)`);
        }
        if (!isTransient(e) || this.closed) throw e;
        retried = true;
        const code = errorCode(e);
        if (code === '25006') this.recycleReadOnly(gen);
        const delayMs = Math.round(Math.min(2000, 50 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
        if (Date.now() + delayMs >= deadline) throw unavailable(op, attempt, this.retryForMs, e);
        this.opts.onRetry?.({ op, attempt, code, error: e, delayMs });
        await sleep(delayMs);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** One attempt, bounded by `timeoutMs`, no retry (health checks). */
  async once<T>(op: string, fn: (sql: Sql) => Promise<T>, timeoutMs: number): Promise<T> {
    const work = fn(this.sql);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([work, new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RampartError('unavailable', `${op}: no answer from PostgreSQL within ${timeoutMs} ms`)), timeoutMs);
      })]);
    } catch (e) {
      work.catch(() => undefined);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    PgPool.live.delete(this);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    await this.stopMonitor?.();
    this.endLater(this.current.sql, 5);
    while (this.ending.size) await Promise.all([...this.ending]);
  }
}

class DeadlineError extends Error {}

function unavailable(op: string, attempts: number, retryForMs: number, last: unknown): RampartError {
  const why = last === undefined ? 'no answer' : `${errorCode(last) || 'error'}: ${(last as Error).message ?? String(last)}`;
  const err = new RampartError('unavailable', `PostgreSQL unavailable: ${op} failed after ${attempts} attempt(s) within ${retryForMs} ms (${why})`);
  if (last !== undefined) err.cause = last;
  return err;
}
