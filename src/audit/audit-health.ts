/**
 * Health checks of the audit log, both non-critical (a failure makes the
 * node degraded, never not-ready):
 *
 * - `auditChain`: the periodic chain verification (chain-verifier.ts). It
 *   runs when due, every `audit.verifyEveryMinutes`, driven by the health
 *   runs themselves (the node's 5-second health job and /readyz); a check
 *   waits for it at most WAIT_MS and otherwise reports the previous result.
 *   A broken chain is a security incident and the check says `fail`, with
 *   the seq and the reason; it is registered non-critical on purpose: taking
 *   the CA out of service would not repair the log, and revocation checking
 *   (OCSP, CRLs) must go on. Alert on `rampart_audit_chain_ok == 0`.
 * - `auditForward` (registered only with `audit.forward` destinations): each
 *   destination's state (cursor, lag, the error and next retry of a failing
 *   one); warn while any destination fails.
 */
import type { HealthRegistry } from '../health/health.js';
import type { ChainVerifier } from './chain-verifier.js';
import type { AuditForwarder, SinkStatus } from './forward/audit-forwarder.js';

const WAIT_MS = 1500;
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export function registerAuditChainCheck(health: HealthRegistry, verifier: ChainVerifier): void {
  health.add('auditChain', async () => {
    if (verifier.due()) {
      const run = verifier.verify().catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([run, new Promise((r) => { timer = setTimeout(r, WAIT_MS); })]);
      clearTimeout(timer);
    }
    const { result, error, lastFullAt } = verifier.state();
    if (!result) {
      return error
        ? { status: 'warn', detail: `the audit chain could not be verified yet: ${error.message}` }
        : { status: 'pass', detail: 'the first verification of the audit chain is running' };
    }
    if (!result.ok) {
      const p = result.problem!;
      return {
        status: 'fail',
        detail: `audit chain broken at seq ${p.seq}: ${p.reason} (${result.mode} verification at ${result.at.toISOString()}; entries up to ${result.headSeq} verify). `
          + 'A broken audit chain is a security incident: find what changed with `rampart audit verify`, and restore the log from a backup. '
          + 'This check is non-critical, so the node keeps serving.',
      };
    }
    const summary = `audit chain verified through seq ${result.headSeq} (head ${result.headHash.slice(0, 16)}…; ${result.mode} run at ${result.at.toISOString()}, `
      + `${plural(result.checked, 'entry', 'entries')} hashed; last full run ${lastFullAt ? lastFullAt.toISOString() : 'pending'})`;
    if (error) return { status: 'warn', detail: `the last verification could not read the log (${error.message}); the one before passed: ${summary}` };
    return { status: 'pass', detail: summary };
  }, { critical: false, timeoutMs: WAIT_MS + 1500 });
}

function describeSink(s: SinkStatus): string {
  const pos = s.cursor === null ? 'position not read yet' : `through seq ${s.cursor}${s.lag !== null ? `, ${plural(s.lag, 'entry', 'entries')} behind` : ''}`;
  if (!s.failing) return `${s.name} (${s.description}): ${pos}`;
  const f = s.failing;
  return `${s.name} (${s.description}): FAILING since ${f.since.toISOString()} (${plural(f.attempts, 'attempt')}, next ${f.retryAt.toISOString()}): ${f.error}; ${pos}`;
}

export function registerAuditForwardCheck(health: HealthRegistry, forwarder: AuditForwarder): void {
  health.add('auditForward', async () => {
    const st = forwarder.status();
    if (!st.active) return { status: 'pass', detail: `${plural(st.sinks.length, 'destination')} configured; the cluster leader forwards, this node stands by` };
    const failing = st.sinks.filter((s) => s.failing);
    const detail = st.sinks.map(describeSink).join('; ');
    if (failing.length) return { status: 'warn', detail: `${failing.length} of ${st.sinks.length} audit forwarding destination(s) failing (retried with backoff, the others carry on): ${detail}` };
    return { status: 'pass', detail };
  }, { critical: false });
}
