/**
 * The application-level integrity checks, on any Store, batched and bounded
 * by a deadline (run in the integrity worker thread, never on the thread that
 * answers OCSP):
 *
 * - `certificates`: every certificate row's DER parses as an X.509
 *   certificate whose serial is the row's serial, and its issuer is known;
 * - `crls`: per issuer, the stored CRLs of every scope (complete and shards)
 *   have distinct numbers, each scope's newest CRL parses and carries the
 *   number it is stored under, and the issuer's counter is at least every
 *   stored number (numbers only ever increase);
 * - `audit-chain`: the whole audit hash chain verifies (chain-verifier.ts).
 */
import { isOfflineIssuer } from '../core/offline-key.js';
import { systemClock } from '../core/clock.js';
import { certificateSerialHex } from '../pki/certificate-serial.js';
import { parseCrlNumber } from '../pki/crl-builder.js';
import { ChainVerifier } from '../audit/chain-verifier.js';
import { MAX_PROBLEMS, isCorruptionError, type IntegrityFinding } from '../storage/database-integrity.js';
import type { Store } from '../storage/store.js';

export interface ApplicationCheckOptions {
  deadline: number;
  batch: number;
  /** CRL shards per issuer (crl.shards). */
  shards: number;
}

export async function applicationChecks(store: Store, o: ApplicationCheckOptions): Promise<IntegrityFinding[]> {
  const issuers = await store.listIssuers();
  return [
    await guarded('certificates', () => checkCertificates(store, new Set(issuers.map((i) => i.id)), o)),
    await guarded('crls', () => checkCrls(store, issuers.map((i) => i.id), o)),
    await guarded('audit-chain', () => checkAuditChain(store)),
  ];
}

async function guarded(check: string, fn: () => Promise<IntegrityFinding>): Promise<IntegrityFinding> {
  try {
    return await fn();
  } catch (e) {
    const message = (e as Error).message;
    return { check, status: isCorruptionError(e) ? 'corrupt' : 'error', detail: `reading failed: ${message}`, problems: [message] };
  }
}

async function checkCertificates(store: Store, issuers: Set<string>, o: ApplicationCheckOptions): Promise<IntegrityFinding> {
  const problems: string[] = [];
  let rows = 0;
  let bad = 0;
  for await (const batch of store.exportCertificates({}, new Date(), { withDer: true, batch: o.batch })) {
    for (const c of batch) {
      rows++;
      let why: string | null = null;
      try {
        const serial = certificateSerialHex(c.der);
        if (serial !== c.serial) why = `its DER carries serial ${serial}`;
        else if (!issuers.has(c.issuerId)) why = `issuer ${c.issuerId} is not in the issuers table`;
      } catch (e) {
        why = `its DER does not parse (${(e as Error).message})`;
      }
      if (why) {
        bad++;
        if (problems.length < MAX_PROBLEMS) problems.push(`certificate ${c.serial}: ${why}`);
      }
    }
    if (Date.now() > o.deadline) {
      return { check: 'certificates', status: 'error', detail: `time budget ran out after ${rows} certificates${bad ? ` (${bad} damaged so far)` : ''}`, problems };
    }
  }
  if (bad) return { check: 'certificates', status: 'corrupt', detail: `${bad} of ${rows} certificate rows are damaged: ${problems[0]}`, problems };
  return { check: 'certificates', status: 'ok', detail: `${rows} certificate rows parse and match their serials` };
}

async function checkCrls(store: Store, issuers: string[], o: ApplicationCheckOptions): Promise<IntegrityFinding> {
  const problems: string[] = [];
  // The node keeps publishing while this reads: a number is taken from the counter before its CRL is saved,
  // so a CRL is judged against the counter read AFTER it (read once at the end, below), never before it.
  const above: Array<{ issuer: string; scope: string; number: bigint }> = [];
  let scopes = 0;
  for (const issuer of issuers) {
    const seen = new Map<bigint, string>();
    for (const shard of [undefined, ...Array.from({ length: o.shards }, (_, i) => i)]) {
      const scope = shard === undefined ? `${issuer} (complete)` : `${issuer} shard ${shard}`;
      const stored = await store.storedCrls(issuer, shard);
      if (!stored.length) continue;
      scopes++;
      for (const s of stored) {
        const other = seen.get(s.number);
        if (other) problems.push(`CRL number ${s.number} is stored twice: ${other} and ${scope}`);
        seen.set(s.number, scope);
        above.push({ issuer, scope, number: s.number });
      }
      const latest = await store.latestCrl(issuer, shard);
      if (latest) {
        let inDer: bigint | null = null;
        try { inDer = parseCrlNumber(latest.der); } catch (e) { problems.push(`${scope}: the newest CRL (${latest.number}) does not parse (${(e as Error).message})`); continue; }
        if (inDer !== latest.number) problems.push(`${scope}: the newest CRL is stored as number ${latest.number} but carries ${inDer ?? 'no number'}`);
      }
      if (Date.now() > o.deadline) return { check: 'crls', status: 'error', detail: `time budget ran out after ${scopes} CRL scopes`, problems };
    }
  }
  const counters = await store.crlCounters();
  // An offline CA's CRLs are numbered by its ceremony and imported: this node never takes a number for them.
  const offline = new Set((await store.listIssuers()).filter((i) => isOfflineIssuer(i)).map((i) => i.id));
  for (const a of above) {
    if (offline.has(a.issuer)) continue;
    const counter = counters[a.issuer] ?? 0n;
    if (a.number > counter) problems.push(`${a.scope}: CRL ${a.number} is above the issuer's counter ${counter} (the next CRL would reuse a number)`);
  }
  if (problems.length) return { check: 'crls', status: 'corrupt', detail: `${problems.length} CRL problem(s): ${problems[0]}`, problems: problems.slice(0, MAX_PROBLEMS) };
  return { check: 'crls', status: 'ok', detail: `${scopes} CRL scopes of ${issuers.length} issuers: numbers distinct, below the counters, newest CRLs parse` };
}

async function checkAuditChain(store: Store): Promise<IntegrityFinding> {
  const r = await new ChainVerifier({ store, clock: systemClock, everyMs: 0, fullEveryRuns: 1 }).verify();
  if (!r.ok) return { check: 'audit-chain', status: 'corrupt', detail: `audit chain broken at seq ${r.problem!.seq}: ${r.problem!.reason}`, problems: [`seq ${r.problem!.seq}: ${r.problem!.reason}`] };
  return { check: 'audit-chain', status: 'ok', detail: `${r.checked} audit entries verify (head seq ${r.headSeq})` };
}
