/**
 * The issuance workflow (RA): profile lookup, CSR verification, policy,
 * idempotency, signing by the CA, durable storage, audit, then events.
 */
import { createHash } from 'node:crypto';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { Clock } from '../core/clock.js';
import type { CaEvents } from '../core/events.js';
import type { CertificateRecord } from '../core/types.js';
import { RampartError, isRampartError } from '../core/errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import { EKU_OIDS, type KeyUsageName } from '../pki/certificate-builder.js';
import { parseCsr, type ParsedCsr } from '../pki/csr.js';
import { filteredName } from '../pki/names.js';
import type { CertificateStore } from '../storage/store.js';
import type { Actor } from '../core/actor.js';
import { checkRequest, type ProfilePolicy } from './policy.js';
import type { WriteGate } from '../cluster/cluster.js';
import { lintProfileOf } from '../ca/lint-gate.js';
import type { PkiPool } from '../pki/pool/pki-pool.js';

export interface IssueRequest {
  csr: string | Uint8Array;
  profile: string;
  sans?: { dns?: string[]; ip?: string[] };
  validityDays?: number;
  idempotencyKey?: string;
  /** The CSR already parsed (and its signature checked) by the caller, to skip doing it twice. */
  parsedCsr?: ParsedCsr;
  /** The names were validated (ACME): the subject carries the commonName at most. */
  validatedNamesOnly?: boolean;
  /** Added to the audit entry of the issuance (e.g. EST: the operation and the certificate renewed). */
  auditDetails?: Record<string, unknown>;
}

export interface IssueResult {
  record: CertificateRecord;
  chain: Uint8Array[];
  replayed: boolean;
}

export interface IssuanceServiceOptions {
  ca: CertificateAuthority;
  store: CertificateStore;
  audit: AuditLog;
  clock: Clock;
  events: CaEvents;
  profiles: Record<string, ProfilePolicy>;
  /** Cluster write gate: refuses on a standby, fences writes in active-passive mode. */
  gate?: WriteGate;
  /** Worker threads that parse CSRs (default: on this thread). */
  pool?: PkiPool;
  /** Refuses issuance (throws 503) while this node's integrity check found database corruption. */
  integrity?: { assertIssuable(): void };
  /** Receives the time (ms) of each step of every issuance: parse, policy, encode, lint, sign, commit. */
  observe?: (stage: IssuanceStage, ms: number) => void;
}

export type IssuanceStage = 'parse' | 'policy' | 'encode' | 'lint' | 'sign' | 'commit';

const DAY = 86_400_000;

export class IssuanceService {
  constructor(private readonly o: IssuanceServiceOptions) {}

  profileNames(): string[] { return Object.keys(this.o.profiles); }

  /** Parses and verifies a CSR (PEM or DER) in the PKI worker threads when there are any. */
  parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
    return this.o.pool ? this.o.pool.parseCsr(input) : parseCsr(input);
  }

  async issue(req: IssueRequest, actor: Actor): Promise<IssueResult> {
    // Not audited per request: the corruption itself was audited when found, and the log may be what is damaged.
    this.o.integrity?.assertIssuable();
    try {
      return await this.issueInner(req, actor);
    } catch (e) {
      if (isRampartError(e)) {
        await this.o.audit.record({
          actor: actor.id, source: actor.source, channel: actor.channel, action: 'certificate.issue', target: `profile:${req.profile}`,
          outcome: e.code === 'policyViolation' || e.code === 'forbidden' || e.extra.rule !== undefined ? 'denied' : 'failure',
          details: { error: e.code, message: e.message, ...e.extra, ...req.auditDetails },
        });
      }
      throw e;
    }
  }

  private async issueInner(req: IssueRequest, actor: Actor): Promise<IssueResult> {
    const policy = Object.prototype.hasOwnProperty.call(this.o.profiles, req.profile) ? this.o.profiles[req.profile] : undefined;
    if (!policy) throw new RampartError('unknownProfile', `unknown profile "${req.profile}"; known: ${this.profileNames().join(', ')}`);
    const observe = this.o.observe;
    let at = performance.now();
    const lap = (stage: IssuanceStage): void => {
      const now = performance.now();
      observe?.(stage, now - at);
      at = now;
    };
    const csr = req.parsedCsr ?? await this.parseCsr(req.csr);
    lap('parse');
    const claim = req.idempotencyKey ? {
      key: req.idempotencyKey, requester: actor.id,
      requestHash: createHash('sha256').update(JSON.stringify([Buffer.from(csr.der).toString('base64'), req.profile, req.sans ?? null, req.validityDays ?? null])).digest('hex'),
    } : undefined;
    if (claim) {
      const earlier = await this.o.store.findIdempotent(claim);
      if (earlier) return { record: earlier, chain: this.o.ca.chain(earlier.issuerId), replayed: true };
    }
    const decided = checkRequest(req.profile, policy, { csr, sans: req.sans, validityDays: req.validityDays, validatedNamesOnly: req.validatedNamesOnly });
    const extKeyUsage = decided.ekus.map((e) => EKU_OIDS[e] ?? e);
    this.checkIssuerEkus(req.profile, extKeyUsage);
    const fence = this.o.gate?.writeFence();
    const now = this.o.clock.now();
    // Back-dated a minute for clocks that lag; the lifetime is exactly the days decided (shifted, not extended).
    const notBefore = new Date(Math.floor((now.getTime() - 60_000) / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + decided.validityDays * DAY);
    const keyUsage = (policy.keyUsages as KeyUsageName[] | undefined)
      ?? (csr.key.type === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature']);
    // The subject is made from the CSR's in the PKI worker (names.ts filteredName) when the CSR was parsed there.
    const subject = csr.subjectDer
      ? { subjectFromCsr: { der: csr.subjectDer, keep: decided.subject.keep, commonName: decided.subject.commonName } }
      : { subjectName: filteredName(csr.subjectName, decided.subject.keep, decided.subject.commonName) };
    lap('policy');
    const signed = await this.o.ca.signLeaf({
      ...subject, spki: csr.spki, san: { dns: decided.dns, ip: decided.ip, email: decided.email },
      keyUsage, extKeyUsage, notBefore, notAfter, policies: policy.policies ?? [], lintProfile: lintProfileOf(decided.ekus), observe,
    });
    at = performance.now();
    const record: CertificateRecord = {
      serial: signed.serial, issuerId: signed.issuer.id, profile: req.profile, subject: signed.subjectText,
      sans: [...decided.dns, ...decided.ip, ...decided.email], notBefore, notAfter: notAfter > signed.issuer.notAfter ? signed.issuer.notAfter : notAfter,
      der: signed.der, status: 'good', revokedAt: null, revocationReason: null, createdAt: now, requester: actor.id, crlShard: signed.crlShard,
    };
    // The audit entry is appended in the certificate's own transaction: one commit, never one without the other.
    const result = await this.o.store.insertCertificate(record, claim, fence, this.o.audit.builder({
      actor: actor.id, source: actor.source, channel: actor.channel, action: 'certificate.issue', target: `serial:${record.serial}`,
      outcome: 'success', details: {
        profile: req.profile, subject: record.subject, sans: record.sans, notAfter: record.notAfter.toISOString(),
        // What `rampart integrity reconcile` needs to put the certificate back from a forwarded copy of the log.
        issuerId: record.issuerId, notBefore: record.notBefore.toISOString(), crlShard: record.crlShard ?? null, der: Buffer.from(record.der).toString('base64'),
        ...(decided.dropped.length ? { droppedSubjectAttributes: decided.dropped } : {}),
        ...req.auditDetails,
      },
    }));
    lap('commit');
    if (!result.replayed) this.o.events.emit('issued', result.record);
    return { record: result.record, chain: this.o.ca.chain(result.record.issuerId), replayed: result.replayed };
  }

  /** A leaf whose EKU its issuing CA does not carry fails in strict verifiers: refuse before signing. */
  private checkIssuerEkus(profile: string, ekus: string[]): void {
    const allowed = this.o.ca.issuingEkus();
    if (!allowed) return;
    const missing = ekus.filter((e) => !allowed.includes(e));
    if (missing.length) {
      throw new RampartError('policyViolation', `profile "${profile}" asks for extended key usage ${missing.join(', ')}, which the issuing CA's certificate does not allow (it allows ${allowed.join(', ')}); rotate to an issuing CA with hierarchy.intermediate.ekus covering it`, { rule: 'issuerEku', profile });
    }
  }
}
