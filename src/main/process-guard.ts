/**
 * Process-level safety net for a running node. A promise rejection that no
 * code handled (typically a background query caught by a database restart)
 * must not take down OCSP and CRL service: it is logged with its stack at
 * error level, counted in `rampart_unhandled_errors_total{kind="rejection"}`
 * (alert rule RampartUnhandledErrors) and the node keeps running. An
 * uncaught exception leaves the process in an unknown state: it is logged
 * and counted, then the node exits with status 1 for its supervisor to
 * restart it.
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
  /** Called after an uncaught exception was logged (default: process.exit). */
  exit?: (code: number) => void;
  proc?: ProcessLike;
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
