/**
 * A root CA kept off the online nodes: a directory (removable media on an
 * air-gapped host) with the sealed root key, the root certificate, a small
 * state file (CRL counter, intermediates it revoked, the nodes' public URL)
 * and the hash-chained ceremony log. No database. `rampart root` drives it:
 * init, sign an intermediate CSR, revoke an intermediate, produce the CRL.
 *
 *   offline-root.json   state            root.pem     root certificate
 *   root-keys/          sealed root key  ceremony.log what was done, chained
 *   issued/<serial>.pem every intermediate signed
 *   root-secret.key     sealing secret, only when RAMPART_KEY_PASSPHRASE is not used
 */
import { ANY_POLICY, DEFAULT_ISSUING_EKUS, subordinateCaProfile } from './ca-profiles.js';
import { crlPreflight } from './lint-gate.js';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Certificate } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { randomSerial, normalizeSerial } from '../core/serial.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { KeyAlgorithm } from '../keys/key-backend.js';
import { SoftwareKeyBackend } from '../keys/software/software-backend.js';
import { buildCertificate, fromPem, toPem } from '../pki/certificate-builder.js';
import { buildCrl } from '../pki/crl-builder.js';
import { parseCsr } from '../pki/csr.js';
import { dnToString, parseDn } from '../pki/names.js';
import { requestedBasicConstraints } from './ca-csr.js';
import { CeremonyLog } from './ceremony-log.js';
import { issuerIdOfCertificate } from './issuer-id.js';
import { signSubordinateCa } from './subordinate-ca.js';

const DAY = 86_400_000;

export const OFFLINE_ROOT_FILES = {
  state: 'offline-root.json', cert: 'root.pem', keys: 'root-keys', log: 'ceremony.log', issued: 'issued', secret: 'root-secret.key',
} as const;

/** Files that mark a node data directory, which must never hold an offline root. */
const NODE_DATA_MARKERS = ['rampart.db', 'rampart.yaml', 'secrets', 'keys', 'node-tls.json'];

interface RevokedIntermediate { serial: string; subject: string; revokedAt: string; reason: number }

interface OfflineRootState {
  format: 'rampart-offline-root';
  version: 1;
  rootId: string;
  subject: string;
  algorithm: KeyAlgorithm;
  keyRef: string;
  /** Base URL of the online nodes (where the root certificate and CRL are published); fixed by the first use. */
  publicBaseUrl: string | null;
  /** The last CRL number used. */
  crlNumber: string;
  revoked: RevokedIntermediate[];
  createdAt: string;
}

export interface SignedIntermediate {
  der: Uint8Array;
  serial: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

export interface OfflineCrl {
  der: Uint8Array;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: number;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const toSecond = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

function checkUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new Error(`--public-base-url must be an absolute http:// or https:// URL (got "${u}")`);
  }
  if (!/^https?:$/.test(url.protocol) || url.search || url.hash) throw new Error(`--public-base-url must be an http(s) URL without query or fragment (got "${u}")`);
  return u.replace(/\/+$/, '');
}

export class OfflineRoot {
  readonly log: CeremonyLog;
  readonly certDer: Uint8Array;
  private readonly keys: SoftwareKeyBackend;

  private constructor(readonly dir: string, private state: OfflineRootState, secret: Uint8Array, private readonly clock: Clock) {
    this.log = new CeremonyLog(join(dir, OFFLINE_ROOT_FILES.log));
    this.keys = new SoftwareKeyBackend({ dir: join(dir, OFFLINE_ROOT_FILES.keys), secret });
    const der = fromPem(readFileSync(join(dir, OFFLINE_ROOT_FILES.cert), 'utf8'))[0];
    if (!der) throw new Error(`${join(dir, OFFLINE_ROOT_FILES.cert)} holds no certificate`);
    this.certDer = der;
  }

  /** Refuses a directory that is (or looks like) a node's data directory. */
  static checkNotNodeDataDir(dir: string): void {
    const hit = NODE_DATA_MARKERS.find((m) => existsSync(join(dir, m)));
    if (hit) throw new Error(`${dir} looks like a node data directory (it has ${hit}): keep the offline root in its own directory, away from the online nodes`);
  }

  static exists(dir: string): boolean {
    return existsSync(join(dir, OFFLINE_ROOT_FILES.state));
  }

  static async init(o: {
    dir: string; secret: Uint8Array; subject: string; algorithm: KeyAlgorithm; validityDays: number; publicBaseUrl?: string; actor: string; clock?: Clock;
  }): Promise<OfflineRoot> {
    const clock = o.clock ?? systemClock;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    if (OfflineRoot.exists(o.dir)) throw new Error(`${o.dir} already holds an offline root (${OFFLINE_ROOT_FILES.state}); refusing to replace it`);
    OfflineRoot.checkNotNodeDataDir(o.dir);
    const name = parseDn(o.subject);
    const base = o.publicBaseUrl ? checkUrl(o.publicBaseUrl) : null;
    const keys = new SoftwareKeyBackend({ dir: join(o.dir, OFFLINE_ROOT_FILES.keys), secret: o.secret });
    const signer = await keys.generate('root', o.algorithm);
    const notBefore = toSecond(clock.now().getTime() - 60_000);
    const notAfter = new Date(notBefore.getTime() + o.validityDays * DAY);
    const der = await buildCertificate({
      serial: randomSerial(), subject: name, subjectSpki: signer.spki, notBefore, notAfter, ca: {}, keyUsage: ['keyCertSign', 'cRLSign'],
    }, signer);
    writeFileSync(join(o.dir, OFFLINE_ROOT_FILES.cert), toPem(der), { mode: 0o644 });
    const state: OfflineRootState = {
      format: 'rampart-offline-root', version: 1, rootId: issuerIdOfCertificate('root', der), subject: dnToString(name), algorithm: o.algorithm,
      keyRef: signer.keyRef, publicBaseUrl: base, crlNumber: '0', revoked: [], createdAt: clock.now().toISOString(),
    };
    const root = new OfflineRoot(o.dir, state, o.secret, clock);
    root.saveState();
    root.log.append(o.actor, 'root.init', {
      rootId: state.rootId, subject: state.subject, algorithm: o.algorithm, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(),
      certSha256: sha256(der), publicBaseUrl: base,
    }, clock.now());
    return root;
  }

  static async open(dir: string, secret: Uint8Array, clock: Clock = systemClock): Promise<OfflineRoot> {
    const file = join(dir, OFFLINE_ROOT_FILES.state);
    if (!existsSync(file)) throw new Error(`${dir} holds no offline root (${OFFLINE_ROOT_FILES.state} missing): create one with \`rampart root init --dir ${dir}\``);
    const state = JSON.parse(readFileSync(file, 'utf8')) as OfflineRootState;
    if (state.format !== 'rampart-offline-root' || state.version !== 1) throw new Error(`${file} is not a Rampart offline root state file (version 1)`);
    const root = new OfflineRoot(dir, state, secret, clock);
    // Opening the key checks the secret now, with a clear error, rather than halfway through a ceremony.
    const signer = await root.keys.open(state.keyRef);
    const certSpki = AsnConvert.serialize(AsnConvert.parse(root.certDer, Certificate).tbsCertificate.subjectPublicKeyInfo);
    if (!Buffer.from(certSpki).equals(Buffer.from(signer.spki))) throw new Error(`the root key ${state.keyRef} does not match ${OFFLINE_ROOT_FILES.cert}`);
    return root;
  }

  get id(): string { return this.state.rootId; }
  get subject(): string { return this.state.subject; }
  get publicBaseUrl(): string | null { return this.state.publicBaseUrl; }
  get notAfter(): Date { return AsnConvert.parse(this.certDer, Certificate).tbsCertificate.validity.notAfter.getTime(); }
  get revoked(): readonly RevokedIntermediate[] { return this.state.revoked; }
  get lastCrlNumber(): bigint { return BigInt(this.state.crlNumber); }

  /** Intermediates signed so far, from the ceremony log. */
  signed(): Array<{ serial: string; subject: string; notAfter: string; at: string }> {
    return this.log.read().filter((e) => e.action === 'root.sign').map((e) => ({
      serial: String(e.details.serial), subject: String(e.details.subject), notAfter: String(e.details.notAfter), at: e.at,
    }));
  }

  /** Every ceremony step starts on a log that verifies, so a broken chain stops the ceremony before anything is signed. */
  private checkLog(): void {
    const c = this.log.verify();
    if (!c.ok) throw new Error(`the ceremony log ${this.log.path} does not verify (${c.problem}): investigate before signing anything`);
  }

  private saveState(): void {
    const file = join(this.dir, OFFLINE_ROOT_FILES.state);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  private baseUrl(given: string | undefined): string | null {
    if (!given) return this.state.publicBaseUrl;
    const u = checkUrl(given);
    if (this.state.publicBaseUrl && this.state.publicBaseUrl !== u) {
      throw new Error(`this root publishes at ${this.state.publicBaseUrl} (its CRL's distribution point is fixed there); got --public-base-url ${u}`);
    }
    if (!this.state.publicBaseUrl) {
      this.state.publicBaseUrl = u;
      this.saveState();
    }
    return u;
  }

  crlUrl(): string | null { return this.state.publicBaseUrl ? `${this.state.publicBaseUrl}/crl/${this.state.rootId}.crl` : null; }

  /**
   * Signs an intermediate CA certificate for a CSR (signature checked, a
   * subject, an ECDSA P-256/P-384 or RSA >= 2048 key, not a request for a
   * non-CA). The certificate points at the nodes for the root certificate
   * and CRL; it carries no OCSP URL, as no online responder can speak for an
   * offline root.
   */
  async signIntermediate(o: { csr: string | Uint8Array; validityDays: number; pathLen: number; publicBaseUrl?: string; actor: string; ekus?: string[]; policies?: string[] }): Promise<SignedIntermediate> {
    this.checkLog();
    const csr = await parseCsr(o.csr);
    if (csr.subjectName.length === 0) throw new Error('the CSR has an empty subject: an intermediate CA needs a name');
    if (csr.key.type === 'other') throw new Error(`the CSR's key (${csr.key.oid}) is not supported for a CA: use ECDSA P-256/P-384 or RSA`);
    if (csr.key.type === 'ecdsa' && !['P-256', 'P-384'].includes(csr.key.curve)) throw new Error(`the CSR's EC curve ${csr.key.curve} is not supported for a CA: use P-256 or P-384`);
    if (csr.key.type === 'rsa' && csr.key.bits < 2048) throw new Error(`the CSR's RSA key has ${csr.key.bits} bits: a CA key needs at least 2048`);
    const bc = requestedBasicConstraints(csr.der);
    if (bc && !bc.cA) throw new Error('the CSR asks for basicConstraints cA=FALSE: it is not a request for a CA certificate');
    const subject = dnToString(csr.subjectName);
    if (subject === this.state.subject) throw new Error(`the CSR's subject "${subject}" is the root's own: give the intermediate its own name`);
    if (Buffer.from(csr.spki).equals(Buffer.from(AsnConvert.serialize(AsnConvert.parse(this.certDer, Certificate).tbsCertificate.subjectPublicKeyInfo)))) {
      throw new Error('the CSR is for the root\'s own key');
    }
    if (!Number.isInteger(o.validityDays) || o.validityDays < 1) throw new Error(`validity must be a whole number of days (got ${o.validityDays})`);
    const notBefore = toSecond(this.clock.now().getTime() - 60_000);
    const notAfter = new Date(notBefore.getTime() + o.validityDays * DAY);
    if (notAfter > this.notAfter) {
      throw new Error(`an intermediate valid for ${o.validityDays} days (until ${notAfter.toISOString()}) would outlive the root (until ${this.notAfter.toISOString()})`);
    }
    const base = this.baseUrl(o.publicBaseUrl);
    const signed = await signSubordinateCa({
      issuerCertDer: this.certDer, issuerSigner: await this.keys.open(this.state.keyRef), subject: csr.subjectName, spki: csr.spki,
      notBefore, notAfter, pathLen: o.pathLen,
      profile: subordinateCaProfile({ ekus: o.ekus ?? DEFAULT_ISSUING_EKUS, policies: o.policies ?? [ANY_POLICY] }),
      urls: base ? { caIssuers: `${base}/ca/${this.state.rootId}.crt`, crl: `${base}/crl/${this.state.rootId}.crl` } : undefined,
    });
    mkdirSync(join(this.dir, OFFLINE_ROOT_FILES.issued), { recursive: true, mode: 0o700 });
    writeFileSync(join(this.dir, OFFLINE_ROOT_FILES.issued, `${signed.serial}.pem`), toPem(signed.der));
    this.log.append(o.actor, 'root.sign', {
      serial: signed.serial, subject, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), pathLen: o.pathLen,
      spkiSha256: sha256(csr.spki), csrSha256: sha256(csr.der), certSha256: sha256(signed.der), publicBaseUrl: base,
    }, this.clock.now());
    return { der: signed.der, serial: signed.serial, subject, notBefore, notAfter };
  }

  /** Records the revocation of an intermediate this root signed; it is on every CRL produced afterwards. */
  revoke(o: { serial: string; reason: number; actor: string }): RevokedIntermediate {
    this.checkLog();
    const serial = normalizeSerial(o.serial);
    if (!serial) throw new Error(`"${o.serial}" is not a certificate serial number (hex)`);
    const signed = this.signed().find((s) => s.serial === serial);
    if (!signed) throw new Error(`this root has not signed a certificate with serial ${serial} (see \`rampart root show\`)`);
    if (this.state.revoked.some((r) => r.serial === serial)) throw new Error(`intermediate ${serial} is already revoked`);
    const rec: RevokedIntermediate = { serial, subject: signed.subject, revokedAt: toSecond(this.clock.now().getTime()).toISOString(), reason: o.reason };
    this.state.revoked.push(rec);
    this.saveState();
    this.log.append(o.actor, 'root.revoke', { ...rec }, this.clock.now());
    return rec;
  }

  /**
   * A new root CRL (number from the state file, advanced before signing so a
   * number is never reused). A complete CRL without an Issuing Distribution
   * Point: with one, relying parties that check the whole chain (openssl
   * -crl_check_all) find the root itself, which has no CRL distribution
   * point, outside the CRL's scope, and NSS refuses to import it (a critical
   * extension it does not process). The node's CRLs are the same.
   */
  async crl(o: { validityDays: number; actor: string }): Promise<OfflineCrl> {
    if (!Number.isInteger(o.validityDays) || o.validityDays < 1 || o.validityDays > 366) throw new Error(`CRL validity must be 1 to 366 days (got ${o.validityDays})`);
    this.checkLog();
    const number = BigInt(this.state.crlNumber) + 1n;
    this.state.crlNumber = number.toString();
    this.saveState();
    const signer = await this.keys.open(this.state.keyRef);
    const thisUpdate = toSecond(this.clock.now().getTime());
    const nextUpdate = new Date(thisUpdate.getTime() + o.validityDays * DAY);
    const { der, count } = await buildCrl({
      signer, issuerName: AsnConvert.parse(this.certDer, Certificate).tbsCertificate.subject, issuerSpki: signer.spki, crlNumber: number,
      thisUpdate, nextUpdate, revoked: this.state.revoked.map((r) => ({ serialHex: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason })),
      preflight: crlPreflight(this.certDer),
    });
    this.log.append(o.actor, 'root.crl', {
      number: number.toString(), entries: count, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString(), crlSha256: sha256(der),
    }, this.clock.now());
    return { der, number, thisUpdate, nextUpdate, entries: count };
  }
}
