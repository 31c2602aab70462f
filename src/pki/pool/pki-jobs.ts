/**
 * The CPU work of an issuance that needs no key and no database, as plain
 * functions over plain data, so that it can run in a worker thread
 * (pki-pool.ts) or, without workers, on the caller's thread: parsing and
 * verifying a CSR, and encoding a TBSCertificate and linting the
 * certificate it makes (signed by the process's throwaway key, lint-signer.ts).
 * Names travel as DER; errors travel as { code, message, extra }.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { isRampartError } from '../../core/errors.js';
import type { KeyAlgorithm } from '../../core/signing.js';
import { algorithmDer } from '../algorithms.js';
import type { CertificateTemplate } from '../certificate-template.js';
import { parseCsr, type ParsedCsr } from '../csr.js';
import { assembleCertificate } from '../certificate-builder.js';
import { lintCertificateElements, lintCrl, type Finding, type ProfileKind } from '../lint/index.js';
import { encodeCertificateList, encodeCrlTbs, type CrlHeader } from '../crl-assembly.js';
import { lintSigner, previewSignature } from '../lint/lint-signer.js';
import { encodeTbsElements } from '../tbs-encoder.js';
import { dnToString, filteredName, nameDer, rememberNameDer } from '../names.js';
import { encodeSyntheticRange, type SyntheticRange, type SyntheticTbs } from '../synthetic/synthetic-encode.js';

/** A ParsedCsr without class instances: the subject Name as DER (its text is made where it is read). */
export type PlainCsr = Omit<ParsedCsr, 'subjectName' | 'subject'> & { subjectDer: Uint8Array };

/**
 * The subject of a certificate made from a CSR's subject (names.ts
 * filteredName): the attributes of those types, and the commonName.
 */
export interface SubjectFilter { keep: readonly string[]; commonName?: string }

/** A certificate template without class instances: names as DER; with subjectFilter, subjectDer is the CSR's subject to filter (in the worker). */
export type PlainTemplate = Omit<CertificateTemplate, 'subject' | 'issuer'> & {
  subjectDer: Uint8Array;
  subjectFilter?: SubjectFilter;
  issuer?: { nameDer: Uint8Array; spki: Uint8Array };
};

export interface TbsJob {
  template: PlainTemplate;
  algorithm: KeyAlgorithm;
  lintProfile: ProfileKind;
}

export interface TbsResult {
  tbsDer: Uint8Array;
  /** Error-level lint findings of the certificate these bytes make: non-empty means it must not be signed. */
  errors: Finding[];
  /** Time spent (ms) encoding and linting. */
  encodeMs: number;
  lintMs: number;
  /** The subject as text (RFC 4514 order as names.ts writes it), for the inventory: made here, off the main thread. */
  subjectText: string;
}

export interface JobError { code?: string; message: string; extra?: Record<string, unknown> }

/** A CRL's TBSCertList from its header and its entries' DER in chunks (crl-assembly.ts), linted on a preview. */
export interface CrlTbsJob {
  header: CrlHeader;
  chunks: Uint8Array[];
  count: number;
  /** Entries in chunks[0]: the preview that is linted holds that first chunk (every entry was encoded the same way, at revocation). */
  previewCount: number;
  /** The issuing CA's certificate, for the lint's AKI and signature checks. */
  issuerCertDer?: Uint8Array;
}

export interface CrlTbsResult {
  tbsDer: Uint8Array;
  count: number;
  /** Error-level lint findings of the preview: non-empty means the CRL must not be signed. */
  errors: Finding[];
}

export interface CrlAssembleJob { tbsDer: Uint8Array; algorithm: KeyAlgorithm; signature: Uint8Array }

/** A range of the synthetic inventory, with the issuing CA's leaf template. */
export type SyntheticJob = SyntheticRange & { base: PlainTemplate };

export type Job = { kind: 'csr'; input: string | Uint8Array } | { kind: 'tbs'; job: TbsJob }
  | { kind: 'crl-tbs'; job: CrlTbsJob } | { kind: 'crl-assemble'; job: CrlAssembleJob } | { kind: 'synthetic'; job: SyntheticJob };

const names = new Map<string, asn.Name>();
/** Issuer names repeat: parsed once per process, so the encoder's per-issuer caches hold. */
function nameOf(der: Uint8Array, cache: boolean): asn.Name {
  if (!cache) {
    const n = AsnConvert.parse(der, asn.Name);
    rememberNameDer(n, der);
    return n;
  }
  const key = Buffer.from(der).toString('base64');
  let n = names.get(key);
  if (!n) {
    n = AsnConvert.parse(der, asn.Name);
    if (names.size >= 256) names.delete(names.keys().next().value!);
    names.set(key, n);
  }
  return n;
}

export function toTemplate(p: PlainTemplate): CertificateTemplate {
  const { subjectDer, subjectFilter, issuer, ...rest } = p;
  const named = nameOf(subjectDer, false);
  const subject = subjectFilter ? filteredName(named, subjectFilter.keep, subjectFilter.commonName) : named;
  return { ...rest, subject, ...(issuer ? { issuer: { name: nameOf(issuer.nameDer, true), spki: issuer.spki } } : {}) };
}

export function toPlainTemplate(t: CertificateTemplate): PlainTemplate {
  const { subject, ...rest } = t;
  return plainLeafTemplate(rest, { subjectDer: nameDer(subject) });
}

/** A template whose subject is given as DER (and, for a CSR's subject, the filter the worker applies). */
export function plainLeafTemplate(t: Omit<CertificateTemplate, 'subject'>, subject: { subjectDer: Uint8Array; subjectFilter?: SubjectFilter }): PlainTemplate {
  const { issuer, ...rest } = t;
  return {
    ...rest, ...subject,
    ...(issuer ? { issuer: { nameDer: nameDer(issuer.name), spki: issuer.spki } } : {}),
  };
}

export async function csrJob(input: string | Uint8Array): Promise<PlainCsr> {
  const { subjectName, subject: _text, ...rest } = await parseCsr(input, { subjectText: false });
  return { ...rest, subjectDer: new Uint8Array(AsnConvert.serialize(subjectName)) };
}

/**
 * The ParsedCsr of a worker's answer. subjectName and subject (its text) are
 * made only when read: issuance reads neither (the policy reads subjectTypes
 * and commonName, the certificate's subject is made in the worker from
 * subjectDer, and its text comes back with the encoded certificate).
 */
export function fromPlainCsr(p: PlainCsr): ParsedCsr {
  let name: asn.Name | undefined;
  let text: string | undefined;
  const subjectName = (): asn.Name => {
    if (!name) {
      name = AsnConvert.parse(p.subjectDer, asn.Name);
      rememberNameDer(name, p.subjectDer);
    }
    return name;
  };
  const out = { ...p } as ParsedCsr;
  Object.defineProperties(out, {
    subjectName: { enumerable: true, configurable: true, get: subjectName },
    subject: { enumerable: true, configurable: true, get: () => (text ??= dnToString(subjectName())) },
  });
  return out;
}

export async function tbsJob(j: TbsJob): Promise<TbsResult> {
  const t0 = performance.now();
  const template = toTemplate(j.template);
  const algorithm = algorithmDer(j.algorithm);
  const { der: tbsDer, elements } = encodeTbsElements(template, algorithm);
  const t1 = performance.now();
  // The element lint reads the algorithm identifiers, not the signature value: one kept throwaway signature serves every preview.
  const signature = await previewSignature(j.algorithm);
  const preview = assembleCertificate(tbsDer, j.algorithm, signature);
  const errors = lintCertificateElements({ der: preview, elements, tbsDer, signatureAlgorithm: algorithm, signature }, { profile: j.lintProfile })
    .filter((f) => f.severity === 'error');
  const lintMs = performance.now() - t1;
  return { tbsDer, errors, encodeMs: t1 - t0, lintMs, subjectText: dnToString(template.subject) };
}

export async function crlTbsJob(j: CrlTbsJob): Promise<CrlTbsResult> {
  const first = j.chunks[0] ?? new Uint8Array(0);
  const previewTbs = encodeCrlTbs(j.header, [first], Math.min(j.previewCount, j.count));
  const preview = encodeCertificateList(previewTbs, j.header.algorithm, await lintSigner(j.header.algorithm).sign(previewTbs));
  const errors = lintCrl(preview, j.issuerCertDer).filter((f) => f.severity === 'error');
  return { tbsDer: encodeCrlTbs(j.header, j.chunks, j.count), count: j.count, errors };
}

export function crlAssembleJob(j: CrlAssembleJob): Uint8Array {
  return encodeCertificateList(j.tbsDer, j.algorithm, j.signature);
}

export function syntheticJob(j: SyntheticJob): SyntheticTbs[] {
  return encodeSyntheticRange(toTemplate(j.base), j);
}

export async function runJob(job: Job): Promise<unknown> {
  switch (job.kind) {
    case 'csr': return csrJob(job.input);
    case 'tbs': return tbsJob(job.job);
    case 'crl-tbs': return crlTbsJob(job.job);
    case 'crl-assemble': return crlAssembleJob(job.job);
    case 'synthetic': return syntheticJob(job.job);
  }
}

/** The buffers of a result that can move to the other thread instead of being copied (whole, non-pooled Uint8Arrays). */
export function transferables(v: unknown): ArrayBuffer[] {
  const own = (u: unknown): u is Uint8Array => u instanceof Uint8Array && !Buffer.isBuffer(u) && u.buffer instanceof ArrayBuffer
    && u.byteOffset === 0 && u.byteLength === u.buffer.byteLength && u.byteLength > 0;
  if (own(v)) return [v.buffer as ArrayBuffer];
  if (Array.isArray(v)) return v.flatMap(transferables);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out = new Set<ArrayBuffer>();
    for (const x of Object.values(v)) for (const b of transferables(x)) out.add(b);
    return [...out];
  }
  return [];
}

export function toJobError(e: unknown): JobError {
  if (isRampartError(e)) return { code: e.code, message: e.message, extra: e.extra };
  return { message: e instanceof Error ? e.message : String(e) };
}
