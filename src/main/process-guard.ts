/**
 * Process-level safety net for a running node.
 *
 * - A promise rejection that no code handled (a bug, typically a background
 *   query caught by a database restart) must not take down OCSP and CRL
 *   service: it is logged with its stack at error level, counted in
 *   `rampart_unhandled_errors_total{kind="rejection"}` (alert rule
 *   RampartUnhandledErrors) and the node keeps running.
 * - postgres.js 3.4.9 can throw from inside one of its connections, from a
 *   setImmediate callback, when a query is written to a connection whose
 *   socket already closed ("Cannot read properties of null (reading
 *   'write')", porsager/postgres#1208, open; reproduced in
 *   test/postgres-defect-guard.test.ts). Only that connection is broken, so
 *   the node logs it, counts it (kind="postgres-js"), replaces its database
 *   pools (`onLibraryDefect`) and keeps running. Seen as a region-B node
 *   that exited while its database was rewound under it.
 * - Any other uncaught exception leaves the process in an unknown state: it
 *   is logged and counted (kind="exception"), then the node exits with
 *   status 1 for its supervisor to restart it.
 */
import type { Counter } from 'prom-client';

export interface GuardLogger {
  error(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
}

export interface ProcessLike {
  on(event: 'unhandledRejection', fn: (reason: unknown) => void): unknown;
  on(event: 'uncaughtException', fn: (err: Error, origin: string) => void): unknown;
  off(event: 'unhandledRejection', fn: (reason: unknown) => void): unknown;
  off(event: 'uncaughtException', fn: (err: Error, origin: string) => void): unknown;
}

export interface ProcessGuardOptions {
  log: GuardLogger;
  counter: Counter<'kind'>;
  /** After a known postgres.js connection defect: replace the database pools. */
  onLibraryDefect?: (err: Error) => void;
  /** Called after an uncaught exception was logged (default: process.exit). */
  exit?: (code: number) => void;
  proc?: ProcessLike;
}

/**
 * Whether `err` is postgres.js writing to a connection whose socket is gone:
 * a TypeError thrown in its connection code, not through any of our frames.
 */
export function isPostgresJsConnectionDefect(err: unknown): err is Error {
  if (!(err instanceof TypeError) || typeof err.stack !== 'string') return false;
  const frames = err.stack.split('\n').filter((l) => /^\s+at /.test(l));
  return frames.length > 0
    && /node_modules[\\/]postgres[\\/](src|cjs[\\/]src|cf[\\/]src)[\\/]connection\.js/.test(frames[0]!)
    && frames.every((l) => /node_modules[\\/]postgres[\\/]|\(node:|^\s+at node:|process\.processImmediate|processTicksAndRejections|listOnTimeout/.test(l));
}

/** Installs the handlers; returns a function that removes them. */
export function installProcessGuard(o: ProcessGuardOptions): () => void {
  const proc = o.proc ?? process;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const onRejection = (reason: unknown): void => {
    o.counter.inc({ kind: 'rejection' });
    const err = reason instanceof Error ? reason : new Error(`non-Error rejection: ${String(reason)}`);
    o.log.error({ err }, 'unhandled promise rejection: logged and ignored, the node keeps running (a bug: please report it with this stack)');
  };
  const onException = (err: Error, origin: string): void => {
    if (isPostgresJsConnectionDefect(err)) {
      o.counter.inc({ kind: 'postgres-js' });
      o.log.error({ err, origin }, 'postgres.js wrote to a closed connection (porsager/postgres#1208): database pools replaced, the node keeps running');
      try {
        o.onLibraryDefect?.(err);
      } catch (e) {
        o.log.error({ err: e }, 'could not replace the database pools');
      }
      return;
    }
    o.counter.inc({ kind: 'exception' });
    o.log.fatal({ err, origin }, 'uncaught exception: the node stops (its supervisor should restart it)');
    exit(1);
  };
  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  return () => {
    proc.off('unhandledRejection', onRejection);
    proc.off('uncaughtException', onException);
  };
}
