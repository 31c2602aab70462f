/**
 * The fault lab's checker: judges a recorded history (history.ts) against
 * what the database holds after healing (store-snapshot.ts). Pure: no I/O,
 * so a unit test can feed it hand-made bad histories.
 *
 * Rules (the first violation found is the verdict's):
 * - lost-issuance: an acknowledged issuance is not in the store;
 *   der-mismatch: it is, with other bytes than the client got;
 * - duplicate-serial: two different issuances acknowledged with one serial
 *   (in the history, or two DERs for one serial);
 * - lost-revocation: an acknowledged revocation is not revoked in the store;
 * - revocation-not-visible: an acknowledged revocation was not answered
 *   'revoked' by every node's OCSP (post-heal probes sent to each node
 *   directly) within `revocationBoundMs` of the later of its acknowledgment
 *   and the heal;
 * - revocation-not-in-crl: the newest CRL whose scope covers the certificate
 *   (its issuer's complete CRL or its shard's; made after the revocation)
 *   does not list it;
 * - crl-number-order: the CRL numbers of a scope (an issuer's complete CRL,
 *   or one shard's) do not strictly increase with time, or a CRL's cRLNumber is not the number stored with it;
 * - audit-chain: the audit hash chain does not verify;
 * - missing-audit: an acknowledged write has no audit entry;
 * - partial-unknown: an operation whose answer was lost is neither fully
 *   present (certificate, idempotency record and audit entry; or revoked,
 *   revocation event and audit entry) nor fully absent;
 * - write-without-lease: a write acknowledged by node N while, by two
 *   successive reads of the lease row (same holder H != N, same epoch,
 *   unexpired both times) bracketing the whole operation, H held the write
 *   lease throughout. The epoch rises with every change of holder and with
 *   every re-acquisition after an expiry, so nobody else can have held it in
 *   between. Writes not bracketed that way cannot be judged from the data.
 */
import type { IssueOp, LeaseOp, Op, RevokeOp } from './history.js';
import type { StoreSnapshot } from './store-snapshot.js';
import { parseCrl } from '../../src/pki/crl-builder.js';

export type ViolationKind =
  | 'lost-issuance' | 'der-mismatch' | 'duplicate-serial' | 'lost-revocation' | 'revocation-not-visible'
  | 'revocation-not-in-crl' | 'crl-number-order' | 'audit-chain' | 'missing-audit' | 'partial-unknown' | 'write-without-lease';

export interface Violation { kind: ViolationKind; message: string; opId?: string }

export interface CheckOptions {
  /** Every node id whose OCSP must answer revoked after healing. */
  nodes: string[];
  /** When the faults were healed (client clock, ms). */
  healedAt: number;
  /** Stated bound for an acknowledged revocation to be answered revoked by every node. */
  revocationBoundMs: number;
  /** The lease a node must hold to acknowledge issuance and revocation ('active' in active-passive); none: not judged. */
  writeLease?: string;
}

export interface CheckCounts { acknowledged: number; failed: number; unknown: number }

export interface CheckResult {
  ok: boolean;
  violations: Violation[];
  counts: Record<'issue' | 'revoke' | 'ocsp', CheckCounts>;
  /** Writes the lease rule could judge (bracketed by two reads of the lease row). */
  leaseJudged: number;
  verdict: string;
}

export const normSerial = (s: string): string => s.toLowerCase().replace(/^0+(?=.)/, '');

function count(ops: Op[], type: 'issue' | 'revoke' | 'ocsp'): CheckCounts {
  const of = ops.filter((o) => o.type === type && !(o.type === 'ocsp' && o.probe));
  return { acknowledged: of.filter((o) => o.outcome === 'ok').length, failed: of.filter((o) => o.outcome === 'failed').length, unknown: of.filter((o) => o.outcome === 'unknown').length };
}

export function checkHistory(ops: Op[], snap: StoreSnapshot, o: CheckOptions): CheckResult {
  const v: Violation[] = [];
  const add = (kind: ViolationKind, message: string, opId?: string): void => { v.push({ kind, message, ...(opId ? { opId } : {}) }); };
  const certs = new Map(snap.certificates.map((c) => [normSerial(c.serial), c]));
  const audit = new Set(snap.auditEntries.filter((e) => e.outcome === 'success' && e.target.startsWith('serial:')).map((e) => `${e.action} ${normSerial(e.target.slice(7))}`));
  const audited = (action: string, serial: string): boolean => audit.has(`${action} ${normSerial(serial)}`);
  const idem = new Map(snap.idempotency.map((r) => [r.key, normSerial(r.serial)]));
  const revEvents = new Set(snap.revocationEvents.map(normSerial));
  const issues = ops.filter((x): x is IssueOp => x.type === 'issue');
  const revokes = ops.filter((x): x is RevokeOp => x.type === 'revoke');

  // Issuances.
  const bySerial = new Map<string, IssueOp>();
  for (const op of issues.filter((x) => x.outcome === 'ok')) {
    if (!op.serial || !op.der) { add('lost-issuance', `issuance ${op.id} was acknowledged without a serial and DER in the history`, op.id); continue; }
    const s = normSerial(op.serial);
    const prev = bySerial.get(s);
    if (prev && prev.key !== op.key) add('duplicate-serial', `serial ${s} acknowledged for two issuances: ${prev.id} (${prev.cn}) and ${op.id} (${op.cn})`, op.id);
    if (prev && prev.key === op.key && prev.der !== op.der) add('duplicate-serial', `serial ${s}: two different DERs acknowledged for one idempotency key`, op.id);
    bySerial.set(s, op);
    const c = certs.get(s);
    if (!c) add('lost-issuance', `acknowledged issuance ${op.id} (serial ${s}, by ${op.node ?? '?'} at ${iso(op.complete)}) is not in the store`, op.id);
    else if (c.der !== op.der) add('der-mismatch', `serial ${s}: the store holds other DER bytes than were acknowledged to ${op.id}`, op.id);
    else if (!audited('certificate.issue', s)) add('missing-audit', `acknowledged issuance ${op.id} (serial ${s}) has no certificate.issue audit entry`, op.id);
  }
  const derSerials = new Map<string, string>();
  for (const c of snap.certificates) {
    const s = normSerial(c.serial);
    if (derSerials.has(s)) add('duplicate-serial', `serial ${s} is stored twice`);
    derSerials.set(s, c.der);
  }
  for (const op of issues.filter((x) => x.outcome === 'unknown')) {
    const serial = idem.get(op.key);
    const byCn = snap.certificates.filter((c) => c.subject.includes(op.cn));
    const parts = { idempotency: serial !== undefined, certificate: byCn.length > 0, audit: serial !== undefined && audited('certificate.issue', serial) };
    const n = Object.values(parts).filter(Boolean).length;
    if (byCn.length > 1) add('duplicate-serial', `issuance ${op.id} (${op.cn}) whose answer was lost was stored ${byCn.length} times`, op.id);
    else if (n !== 0 && n !== 3) add('partial-unknown', `issuance ${op.id} (${op.cn}) whose answer was lost is partly stored: ${JSON.stringify(parts)}`, op.id);
    else if (serial !== undefined && byCn[0] && normSerial(byCn[0].serial) !== serial) add('partial-unknown', `issuance ${op.id}: its idempotency record names ${serial}, its certificate is ${byCn[0].serial}`, op.id);
  }

  // Revocations.
  const ackedRev = revokes.filter((x) => x.outcome === 'ok');
  for (const op of ackedRev) {
    const s = normSerial(op.serial);
    const c = certs.get(s);
    if (!c || c.status !== 'revoked') { add('lost-revocation', `acknowledged revocation ${op.id} of ${s} (by ${op.node ?? '?'} at ${iso(op.complete)}) is not revoked in the store`, op.id); continue; }
    if (!audited('certificate.revoke', s)) add('missing-audit', `acknowledged revocation ${op.id} of ${s} has no certificate.revoke audit entry`, op.id);
    const deadline = Math.max(op.complete, o.healedAt) + o.revocationBoundMs;
    for (const node of o.nodes) {
      const seen = ops.some((x) => x.type === 'ocsp' && x.probe && x.node === node && normSerial(x.serial) === s && x.outcome === 'ok' && x.status === 'revoked' && x.complete <= deadline);
      if (!seen) add('revocation-not-visible', `revocation ${op.id} of ${s}: node ${node}'s OCSP did not answer revoked within ${o.revocationBoundMs} ms of ${iso(Math.max(op.complete, o.healedAt))}`, op.id);
    }
    // The CRLs whose scope covers the certificate: the issuer's complete CRL and the shard its CDP names.
    const crls = snap.crls.filter((x) => x.issuerId === c.issuerId && ((x.shard ?? null) === null || x.shard === c.crlShard)).sort((a, b) => Number(BigInt(b.number) - BigInt(a.number)));
    const newest = crls[0];
    // thisUpdate has whole seconds (RFC 5280 times): a CRL made in the revocation's second counts as after it.
    if (!newest || (c.revokedAt !== null && newest.thisUpdate < Math.floor(c.revokedAt / 1000) * 1000)) add('revocation-not-in-crl', `revocation ${op.id} of ${s}: no CRL of ${c.issuerId} was made after it`, op.id);
    else if (!parseCrl(Buffer.from(newest.der, 'base64')).entries.some((e) => normSerial(e.serialHex) === s)) add('revocation-not-in-crl', `revocation ${op.id} of ${s}: CRL ${newest.number} of ${c.issuerId} does not list it`, op.id);
  }
  for (const op of revokes.filter((x) => x.outcome === 'unknown')) {
    const s = normSerial(op.serial);
    const parts = { revoked: certs.get(s)?.status === 'revoked', event: revEvents.has(s), audit: audited('certificate.revoke', s) };
    const n = Object.values(parts).filter(Boolean).length;
    if (n !== 0 && n !== 3) add('partial-unknown', `revocation ${op.id} of ${s} whose answer was lost is partly stored: ${JSON.stringify(parts)}`, op.id);
  }

  // CRL numbers, per scope (RFC 5280 5.2.3: an issuer's complete CRL, or one shard's): shards of one issuer
  // are built concurrently from one counter, so across scopes a later thisUpdate may carry a smaller number.
  const scopeOf = (c: { issuerId: string; shard?: number | null }): string => (c.shard ?? null) === null ? c.issuerId : `${c.issuerId}/${c.shard}`;
  const scopes = new Set(snap.crls.map(scopeOf));
  for (const issuer of scopes) {
    const list = snap.crls.filter((c) => scopeOf(c) === issuer).sort((a, b) => a.thisUpdate - b.thisUpdate || Number(BigInt(a.number) - BigInt(b.number)));
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      const inDer = parseCrl(Buffer.from(c.der, 'base64')).crlNumber;
      if (inDer === null || inDer !== BigInt(c.number)) add('crl-number-order', `CRL ${c.number} of ${issuer} carries cRLNumber ${String(inDer)}`);
      const prev = list[i - 1];
      if (prev && BigInt(c.number) <= BigInt(prev.number)) add('crl-number-order', `CRL numbers of ${issuer} do not increase: ${prev.number} (${iso(prev.thisUpdate)}) then ${c.number} (${iso(c.thisUpdate)})`);
    }
  }

  if (!snap.auditChain.ok) add('audit-chain', `the audit chain does not verify at entry ${snap.auditChain.problem?.seq ?? '?'}: ${snap.auditChain.problem?.reason ?? 'unknown'}`);

  // Leases.
  let leaseJudged = 0;
  if (o.writeLease) {
    const reads = ops.filter((x): x is LeaseOp => x.type === 'lease' && x.lease === o.writeLease && x.outcome === 'ok').sort((a, b) => a.invoke - b.invoke);
    const writes = [...issues, ...revokes].filter((x) => x.outcome === 'ok' && x.node);
    for (const w of writes) {
      // The last read completed before the write began, and the first read begun after it completed.
      let before: LeaseOp | undefined;
      for (const r of reads) if (r.complete <= w.invoke) before = r;
      const after = reads.find((r) => r.invoke >= w.complete);
      if (!before || !after) continue;
      const live = (r: LeaseOp): boolean => r.holder != null && r.expiresAt != null && r.dbNow != null && r.expiresAt > r.dbNow;
      if (!live(before) || !live(after) || before.holder !== after.holder || before.epoch !== after.epoch) continue;
      // Same holder and epoch at both ends of a gap must also hold for every read inside it.
      const inside = reads.filter((r) => r.invoke >= before!.invoke && r.complete <= after.complete);
      if (!inside.every((r) => live(r) && r.holder === before!.holder && r.epoch === before!.epoch)) continue;
      leaseJudged++;
      if (before.holder !== w.node) {
        add('write-without-lease', `${w.type} ${w.id} was acknowledged by ${w.node} (${iso(w.invoke)}..${iso(w.complete)}) while ${before.holder} held lease "${o.writeLease}" at epoch ${before.epoch} throughout`, w.id);
      }
    }
  }

  const counts = { issue: count(ops, 'issue'), revoke: count(ops, 'revoke'), ocsp: count(ops, 'ocsp') };
  const verdict = v.length === 0 ? `PASS: ${ops.length} operations, no violation`
    : `FAIL: ${v.length} violation(s); first: [${v[0]!.kind}] ${v[0]!.message}`;
  return { ok: v.length === 0, violations: v, counts, leaseJudged, verdict };
}

const iso = (ms: number): string => new Date(ms).toISOString();
