/**
 * The synthetic inventory for capacity tests (`rampart inventory
 * synthesize`): N real certificates signed by the active issuing CA, with
 * realistic names, a spread of validity (a fraction expired) and a fraction
 * revoked, stored as issuance and revocation store them (revoked rows carry
 * their CRL entry and a revocation event), so OCSP, CRLs, search and backups
 * work on them. Encoding runs in worker threads (PkiPool), the signature
 * here with the CA's Signer (an HSM key works too), and rows go to the store
 * in large transactions (BulkLoadCapable). A small set of subject keys is
 * shared. One audit entry records the load (who, count, seed), not one per
 * certificate. Deterministic: the same seed and count give the same inventory.
 */
import { randomBytes } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { Actor } from '../core/actor.js';
import type { Clock } from '../core/clock.js';
import { RampartError } from '../core/errors.js';
import { generateKeyObject } from '../core/signing.js';
import { serialHex } from '../core/serial.js';
import type { AuditLog } from '../audit/audit-log.js';
import { assembleCertificate, EKU_OIDS, type KeyUsageName } from '../pki/certificate-builder.js';
import { parseDn } from '../pki/names.js';
import { PkiPool, defaultWorkerCount } from '../pki/pool/pki-pool.js';
import { toPlainTemplate } from '../pki/pool/pki-jobs.js';
import type { SyntheticTbs } from '../pki/synthetic/synthetic-encode.js';
import { planCertificate, type SyntheticSpec } from '../pki/synthetic/synthetic-plan.js';
import type { BulkCertificate, BulkLoadCapable, CertificateStore } from '../storage/store.js';
import type { ProfilePolicy } from './policy.js';

export interface SynthesizeOptions {
  count: number;
  revokedFraction: number;
  expiredFraction: number;
  /** Default: random (printed in the result and the audit entry, to repeat the load elsewhere). */
  seed?: string;
  profile: string;
  /** Rows per store transaction (default 10,000). */
  batchSize?: number;
  /** Encoding worker threads (default: one per CPU, at most 4). */
  workers?: number;
  onProgress?: (p: SynthesizeProgress) => void;
}

export interface SynthesizeProgress { done: number; total: number; elapsedMs: number }

export interface SynthesizeResult {
  count: number;
  revoked: number;
  expired: number;
  seed: string;
  issuerId: string;
  elapsedMs: number;
}

export interface SynthesizeDeps {
  ca: CertificateAuthority;
  store: BulkLoadCapable & Pick<CertificateStore, 'getCertificate'>;
  audit: AuditLog;
  clock: Clock;
  profiles: Record<string, ProfilePolicy>;
}

const KEY_COUNT = 16;
const JOB_SIZE = 500;
const MAX_COUNT = 100_000_000;

function check(o: SynthesizeOptions, profiles: Record<string, ProfilePolicy>): void {
  if (!Number.isSafeInteger(o.count) || o.count < 1 || o.count > MAX_COUNT) throw new RampartError('malformed', `count must be a whole number from 1 to ${MAX_COUNT}`);
  for (const [name, v] of [['revoked fraction', o.revokedFraction], ['expired fraction', o.expiredFraction]] as const) {
    if (!Number.isFinite(v) || v < 0 || v > 1) throw new RampartError('malformed', `${name} must be between 0 and 1`);
  }
  if (o.batchSize !== undefined && (!Number.isSafeInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > 100_000)) throw new RampartError('malformed', 'batch size must be from 1 to 100000');
  if (o.workers !== undefined && (!Number.isSafeInteger(o.workers) || o.workers < 0 || o.workers > 64)) throw new RampartError('malformed', 'workers must be from 0 to 64');
  if (o.seed !== undefined && (o.seed.length < 1 || o.seed.length > 200)) throw new RampartError('malformed', 'seed must be 1 to 200 characters');
  if (!Object.prototype.hasOwnProperty.call(profiles, o.profile)) throw new RampartError('unknownProfile', `unknown profile "${o.profile}"; known: ${Object.keys(profiles).join(', ')}`);
}

export async function synthesizeInventory(deps: SynthesizeDeps, o: SynthesizeOptions, actor: Actor): Promise<SynthesizeResult> {
  check(o, deps.profiles);
  const policy = deps.profiles[o.profile]!;
  const seed = o.seed ?? randomBytes(8).toString('hex');
  const issuer = deps.ca.active();
  const signer = await deps.ca.signerFor(issuer);
  const now = deps.clock.now();
  const spec: SyntheticSpec = {
    seed, nowMs: now.getTime(), revokedFraction: o.revokedFraction, expiredFraction: o.expiredFraction,
    issuerNotAfterMs: issuer.notAfter.getTime(), keyCount: KEY_COUNT, count: o.count,
  };
  const first = serialHex(planCertificate(spec, 0).serial);
  if (await deps.store.getCertificate(first)) throw new RampartError('conflict', `the inventory of seed "${seed}" is already stored (serial ${first}): use another seed`);
  const keys = Array.from({ length: KEY_COUNT }, () => new Uint8Array(createPublicKey(generateKeyObject('ecdsa-p256')).export({ type: 'spki', format: 'der' })));
  const keyUsage = (policy.keyUsages as KeyUsageName[] | undefined) ?? ['digitalSignature'];
  const base = toPlainTemplate({ subject: parseDn('CN=synthetic.invalid'), ...deps.ca.leafTemplate(issuer, signer.spki, {
    spki: keys[0]!, san: { dns: ['synthetic.invalid'] }, keyUsage,
    extKeyUsage: policy.ekus.map((e) => EKU_OIDS[e] ?? e), notBefore: now, notAfter: new Date(now.getTime() + 1000), policies: policy.policies ?? [],
  }, new Uint8Array(16)) });

  const crlUrls = deps.ca.crlShardUrls(issuer.id);
  const workers = o.workers ?? defaultWorkerCount();
  const pool = new PkiPool(workers);
  const batchSize = o.batchSize ?? 10_000;
  const t0 = performance.now();
  const result: SynthesizeResult = { count: 0, revoked: 0, expired: 0, seed, issuerId: issuer.id, elapsedMs: 0 };
  const encode = (start: number): Promise<SyntheticTbs[]> =>
    pool.encodeSynthetic({ spec, keys, algorithm: signer.algorithm, base, start, count: Math.min(JOB_SIZE, o.count - start), crlUrls });
  const toRow = (c: SyntheticTbs, signature: Uint8Array): BulkCertificate => {
    const revoked = c.revokedAt !== null;
    return {
      serial: c.serial, issuerId: issuer.id, profile: o.profile, subject: c.subject, sans: c.sans,
      notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter), der: assembleCertificate(c.tbsDer, signer.algorithm, signature),
      status: revoked ? 'revoked' : 'good', revokedAt: revoked ? new Date(c.revokedAt!) : null, revocationReason: c.reason, crlEntry: c.crlEntry,
      createdAt: new Date(c.notBefore + 60_000), requester: actor.id, crlShard: c.crlShard,
    };
  };
  // A job's certificates are signed as soon as it is encoded, in the background (libuv's pool for a
  // software key), so signatures are made while this thread stores the batch before.
  const prepare = async (start: number): Promise<BulkCertificate[]> => {
    const job = await encode(start);
    const signatures = await Promise.all(job.map((c) => signer.sign(c.tbsDer, { background: true })));
    return job.map((c, k) => toRow(c, signatures[k]!));
  };
  // Jobs run ahead and are taken in index order: a whole batch and two jobs per worker more, so that the
  // workers and the signing threads have work for as long as this thread stores a batch.
  const ahead: Array<Promise<BulkCertificate[]>> = [];
  const depth = Math.ceil(batchSize / JOB_SIZE) + Math.max(2, workers * 2);
  await deps.store.bulkLoadMode(true);
  try {
    let next = 0;
    const fill = (): void => {
      while (next < o.count && ahead.length < depth) { ahead.push(prepare(next)); next += JOB_SIZE; }
    };
    let rows: BulkCertificate[] = [];
    const flush = async (): Promise<void> => {
      await deps.store.bulkInsertCertificates(rows);
      for (const r of rows) {
        if (r.status === 'revoked') result.revoked++;
        if (r.notAfter.getTime() <= spec.nowMs) result.expired++;
      }
      result.count += rows.length;
      rows = [];
      o.onProgress?.({ done: result.count, total: o.count, elapsedMs: performance.now() - t0 });
    };
    fill();
    while (ahead.length) {
      const job = await ahead.shift()!;
      fill();
      for (const r of job) rows.push(r);
      if (rows.length >= batchSize) await flush();
    }
    if (rows.length) await flush();
  } finally {
    for (const p of ahead) p.catch(() => undefined);
    await pool.close();
    await deps.store.bulkLoadMode(false);
    result.elapsedMs = Math.round(performance.now() - t0);
    await deps.audit.record({
      actor: actor.id, source: actor.source, channel: actor.channel, action: 'inventory.synthesize', target: `issuer:${issuer.id}`,
      outcome: result.count === o.count ? 'success' : 'failure',
      details: { requested: o.count, stored: result.count, revoked: result.revoked, expired: result.expired, seed, profile: o.profile, elapsedMs: result.elapsedMs },
    });
  }
  return result;
}
