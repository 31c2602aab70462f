/**
 * The CA role: holds the issuers and their signers and signs what the RA has
 * already approved. No HTTP and no policy here.
 */
import { RampartError } from '../core/errors.js';
import { OCSP_SIGNER_PROFILE } from './ca-profiles.js';
import { certificatePreflight, lintProfileOf, refuseCertificate } from './lint-gate.js';
import { PkiPool } from '../pki/pool/pki-pool.js';
import { plainLeafTemplate, type SubjectFilter } from '../pki/pool/pki-jobs.js';
import type { CertificateTemplate } from '../pki/certificate-template.js';
import type { ProfileKind } from '../pki/lint/index.js';
import { randomSerial, serialHex } from '../core/serial.js';
import type { Clock } from '../core/clock.js';
import type { IssuerRecord } from '../core/types.js';
import type { KeyBackend, Signer } from '../keys/key-backend.js';
import { assembleCertificate, buildCertificate, type KeyUsageName, type SubjectAltNames } from '../pki/certificate-builder.js';
import { nameDer, parseDn } from '../pki/names.js';
import { Certificate, ExtendedKeyUsage, id_ce_extKeyUsage, type Name } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { IssuerStore } from '../storage/store.js';
import { issuerId } from './issuer-id.js';
import { isOfflineIssuer, offlineKeyError } from './offline-issuer.js';
import type { CaUrls } from './urls.js';
import { crlShardOf } from '../core/crl-shard.js';

const ekuCache = new WeakMap<IssuerRecord, string[] | null>();

/** A leaf's subject: a Name, or a CSR's subject (DER) and what of it to keep (made in the PKI worker, names.ts filteredName). */
export type LeafSubject = { subjectName: Name; subjectFromCsr?: undefined }
  | { subjectFromCsr: { der: Uint8Array } & SubjectFilter; subjectName?: undefined };

export type LeafRequest = LeafSubject & LeafFields;

export interface LeafFields {
  spki: Uint8Array;
  san: SubjectAltNames;
  keyUsage: KeyUsageName[];
  extKeyUsage: string[];
  notBefore: Date;
  notAfter: Date;
  /** certificatePolicies OIDs. */
  policies?: string[];
  /** The rules the certificate is linted against before it is signed (lint-gate.ts); default: from its extended key usages. */
  lintProfile?: ProfileKind;
  /** Time spent (ms) in each step, for the issuance profile. */
  observe?: (stage: 'encode' | 'lint' | 'sign', ms: number) => void;
}

export interface SignedLeaf {
  serial: string;
  der: Uint8Array;
  issuer: IssuerRecord;
  /** The CRL shard its CDP names (store it with the certificate). */
  crlShard: number;
  /** The subject as text (dnToString), made with the encoding off the main thread. */
  subjectText: string;
}

export interface OcspSignerSpec {
  algorithm: Parameters<KeyBackend['generate']>[1];
  validityDays: number;
  renewBeforeDays: number;
}

export interface CertificateAuthorityOptions {
  store: IssuerStore;
  keys: KeyBackend;
  clock: Clock;
  urls: CaUrls;
  /** Worker threads that encode and lint leaf certificates (default: none, on this thread). */
  pool?: PkiPool;
  /** CRL shards per issuer (crl.shards); default 1. */
  crlShards?: number;
}

const DAY = 86_400_000;

export class CertificateAuthority {
  private issuers: IssuerRecord[] = [];
  private readonly pool: PkiPool;

  constructor(private readonly o: CertificateAuthorityOptions) {
    this.pool = o.pool ?? new PkiPool(0);
  }

  async load(): Promise<void> {
    this.issuers = await this.o.store.listIssuers();
  }

  all(): IssuerRecord[] { return [...this.issuers]; }

  /** Root and intermediate CAs (not OCSP signers). */
  cas(): IssuerRecord[] { return this.issuers.filter((i) => i.kind !== 'ocsp-signer'); }

  get(id: string): IssuerRecord | undefined { return this.issuers.find((i) => i.id === id); }

  /** The current root: the parent of the active intermediate (after `rampart pki rebuild` a node has an old and a new root), else the only root. */
  root(): IssuerRecord | undefined {
    const parentId = this.issuers.find((i) => i.kind === 'intermediate' && i.active)?.parentId;
    const parent = parentId ? this.get(parentId) : undefined;
    return parent?.kind === 'root' ? parent : this.issuers.find((i) => i.kind === 'root');
  }

  active(): IssuerRecord {
    const a = this.issuers.find((i) => i.kind === 'intermediate' && i.active);
    if (!a) throw new Error('no active issuing CA: run `rampart init`');
    return a;
  }

  /** DER certificates from the given issuer up to (not including) the root. */
  chain(id: string): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let cur = this.get(id); cur && cur.kind !== 'root'; cur = cur.parentId ? this.get(cur.parentId) : undefined) out.push(cur.certDer);
    return out;
  }

  /**
   * The issuer's key, opened in the key backend. A key the backend cannot
   * give (an HSM token lost or down, a key file gone) is RampartError
   * 'unavailable' (503: the service cannot sign now), never a 500.
   */
  async signerFor(issuer: IssuerRecord): Promise<Signer> {
    if (isOfflineIssuer(issuer)) throw offlineKeyError(issuer);
    try {
      return await this.o.keys.open(issuer.keyRef);
    } catch (e) {
      throw keyUnavailable(issuer, e);
    }
  }

  /** Whether this node can sign with the issuer's key (never for an offline root). */
  async hasKey(issuer: IssuerRecord): Promise<boolean> {
    if (isOfflineIssuer(issuer)) return false;
    return this.o.keys.has(issuer.keyRef);
  }

  /**
   * Signs an end-entity certificate the RA approved. The TBSCertificate is
   * encoded and the certificate it makes linted (throwaway signature) in the
   * PKI pool; only a certificate without lint errors is signed, here, by the
   * issuing CA's key.
   */
  async signLeaf(req: LeafRequest): Promise<SignedLeaf> {
    const issuer = this.active();
    const signer = await this.signerFor(issuer);
    const serial = randomSerial();
    const crlShard = crlShardOf(serialHex(serial), this.o.crlShards ?? 1);
    const template = this.leafTemplate(issuer, signer.spki, req, serial);
    const { subjectFromCsr: fromCsr } = req;
    const subject = fromCsr
      ? { subjectDer: fromCsr.der, subjectFilter: { keep: fromCsr.keep, ...(fromCsr.commonName !== undefined ? { commonName: fromCsr.commonName } : {}) } }
      : { subjectDer: nameDer(req.subjectName) };
    const built = await this.pool.encodeAndLint({
      template: plainLeafTemplate(template, subject), algorithm: signer.algorithm, lintProfile: req.lintProfile ?? lintProfileOf(req.extKeyUsage),
    });
    req.observe?.('encode', built.encodeMs);
    req.observe?.('lint', built.lintMs);
    refuseCertificate(built.errors);
    const t0 = performance.now();
    // Signed in place: in the background (libuv's pool) cost more than it moved off this thread (A/B under
    // wrk -c32, three interleaved runs each: 598-867 against 742-1,016 certificates/s; docs/DESIGN.md).
    const der = assembleCertificate(built.tbsDer, signer.algorithm, await signer.sign(built.tbsDer).catch((e: unknown) => { throw keyUnavailable(issuer, e); }));
    req.observe?.('sign', performance.now() - t0);
    return { serial: serialHex(serial), der, issuer, crlShard, subjectText: built.subjectText };
  }

  /**
   * The template of an end-entity certificate of `issuer` (whose key's SPKI
   * is `issuerSpki`): the one place a leaf's issuer, URLs and lifetime cap
   * are decided, for signLeaf and for the synthetic inventory.
   */
  leafTemplate(issuer: IssuerRecord, issuerSpki: Uint8Array, req: Omit<LeafFields, 'lintProfile' | 'observe'>, serial: Uint8Array): Omit<CertificateTemplate, 'subject'> {
    const notAfter = req.notAfter > issuer.notAfter ? issuer.notAfter : req.notAfter;
    if (notAfter <= req.notBefore) throw new Error('notAfter must be after notBefore');
    return {
      serial, subjectSpki: req.spki, notBefore: req.notBefore, notAfter,
      issuer: { name: parseIssuerName(issuer), spki: issuerSpki }, keyUsage: req.keyUsage, extKeyUsage: req.extKeyUsage, san: req.san, policies: req.policies,
      ocspUrls: [this.o.urls.ocsp()], caIssuersUrls: [this.o.urls.caCert(issuer.id)],
      crlUrls: [this.o.urls.crlShard(issuer.id, crlShardOf(serialHex(serial), this.o.crlShards ?? 1))],
    };
  }

  /** The CRL Distribution Point of each CRL shard of `issuerId`, by shard number (crl.shards of them). */
  crlShardUrls(issuerId: string): string[] {
    return Array.from({ length: this.o.crlShards ?? 1 }, (_, i) => this.o.urls.crlShard(issuerId, i));
  }

  /** The extended key usages (OIDs) the active issuing CA's certificate allows, or null when it does not restrict them. */
  issuingEkus(): string[] | null {
    const issuer = this.active();
    let ekus = ekuCache.get(issuer);
    if (ekus === undefined) {
      const ext = AsnConvert.parse(issuer.certDer, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === id_ce_extKeyUsage);
      ekus = ext ? [...AsnConvert.parse(ext.extnValue, ExtendedKeyUsage)] : null;
      ekuCache.set(issuer, ekus);
    }
    return ekus;
  }

  /** The current delegated OCSP signing certificate of a CA, if any. */
  ocspSignerOf(caId: string): IssuerRecord | undefined {
    const now = this.o.clock.now();
    return this.issuers
      .filter((i) => i.kind === 'ocsp-signer' && i.parentId === caId && i.notBefore <= now && i.notAfter > now)
      .sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime())[0];
  }

  /**
   * Makes sure every CA whose key is reachable has a delegated OCSP signer
   * (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) that is not within
   * renewBeforeDays of expiry; issues a new one where needed. `inService`
   * leaves out retired CAs (see retirement.ts). Returns the ids renewed.
   */
  async ensureOcspSigners(spec: OcspSignerSpec, inService?: (ca: IssuerRecord) => Promise<boolean>): Promise<string[]> {
    const renewed: string[] = [];
    const now = this.o.clock.now();
    for (const ca of this.cas()) {
      if (ca.notAfter <= now || !(await this.hasKey(ca))) continue;
      if (inService && !(await inService(ca))) continue;
      const current = this.ocspSignerOf(ca.id);
      // A signer whose key is gone (an HSM token lost and the CA keys restored into a spare) is replaced too.
      if (current && current.notAfter.getTime() - now.getTime() > spec.renewBeforeDays * DAY && await this.hasKey(current)) continue;
      const caSigner = await this.signerFor(ca);
      const key = await this.o.keys.generate('ocsp', spec.algorithm);
      const notBefore = new Date(now.getTime() - 60_000);
      let notAfter = new Date(now.getTime() + spec.validityDays * DAY);
      if (notAfter > ca.notAfter) notAfter = ca.notAfter;
      const subject = `CN=OCSP Responder for ${ca.subject.replace(/^.*?CN=([^,]+).*$/, '$1')}, O=Rampart`;
      const der = await buildCertificate({
        serial: randomSerial(), subject: parseDn(subject.replace(/[+;<>"\\]/g, ' ')), subjectSpki: key.spki, notBefore, notAfter,
        issuer: { name: parseIssuerName(ca), spki: caSigner.spki }, keyUsage: OCSP_SIGNER_PROFILE.keyUsage,
        extKeyUsage: OCSP_SIGNER_PROFILE.extKeyUsage, ocspNoCheck: OCSP_SIGNER_PROFILE.ocspNoCheck,
      }, caSigner, certificatePreflight('ocsp-signer'));
      const rec: IssuerRecord = {
        id: issuerId('ocsp', key.spki, notBefore), kind: 'ocsp-signer', subject, parentId: ca.id, certDer: der,
        keyRef: key.keyRef, keyBackend: this.o.keys.type, notBefore, notAfter, active: false, createdAt: now,
      };
      await this.o.store.saveIssuer(rec);
      this.issuers.push(rec);
      renewed.push(rec.id);
    }
    return renewed;
  }
}

function keyUnavailable(issuer: IssuerRecord, e: unknown): unknown {
  if (e instanceof RampartError) return e;
  return new RampartError('unavailable', `the key of ${issuer.kind} ${issuer.id} cannot be used now (key backend): ${(e as Error).message}`);
}

const nameCache = new WeakMap<IssuerRecord, Name>();
/** The issuer's subject Name exactly as encoded in its certificate (so issuer/subject chaining is byte-identical). */
export function parseIssuerName(i: IssuerRecord): Name {
  let n = nameCache.get(i);
  if (!n) {
    n = AsnConvert.parse(i.certDer, Certificate).tbsCertificate.subject;
    nameCache.set(i, n);
  }
  return n;
}
