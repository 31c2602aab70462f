/**
 * Builds and signs X.509 v2 CRLs (RFC 5280 section 5).
 *
 * Revoked entries are consumed one at a time: each RevokedCertificate is
 * encoded by @peculiar/asn1-x509 on its own and only its DER bytes are kept,
 * so memory grows with the encoded size (tens of bytes per entry) rather than
 * with a tree of ASN.1 objects per entry. The SEQUENCE OF that holds them, the
 * TBSCertList and the CertificateList are still encoded by the library
 * (asn1-schema / asn1js): no tag or length bytes are written by hand here.
 */
import { lintSigner, type Preflight } from './lint/lint-signer.js';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import * as asn1js from 'asn1js';
import { AsnConvert, AsnParser, AsnProp, AsnPropTypes, OctetString, type IAsnConvertible } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import type { Signer } from '../core/signing.js';
import { signatureAlgorithm } from './algorithms.js';
import { keyIdentifier, toArrayBuffer } from './certificate-builder.js';
import { REVOCATION_REASONS, isRevocationReasonCode, reasonName } from './revocation-reasons.js';

export { REVOCATION_REASONS, reasonFromName, reasonName, crlReasonName } from './revocation-reasons.js';

export interface RevokedEntry {
  /** Certificate serial number in hex (case-insensitive, optional ':' separators, leading zeros allowed). */
  serialHex: string;
  revokedAt: Date;
  /** RFC 5280 CRLReason code; unspecified (0) or absent means no reasonCode entry extension. */
  reason?: number;
  /**
   * The entry already encoded by encodeRevokedEntry (stored at revocation
   * time): used as is, so a CRL of many entries costs little more than
   * copying bytes.
   */
  der?: Uint8Array;
}

export interface BuildCrlOptions {
  signer: Signer;
  issuerName: asn.Name;
  /** DER SubjectPublicKeyInfo of the issuing CA; must be the signer's key. */
  issuerSpki: Uint8Array;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: Iterable<RevokedEntry> | AsyncIterable<RevokedEntry>;
  /**
   * Issuing Distribution Point fullName URI (critical, as RFC 5280 5.2.5
   * requires); must equal the URI in the certificates' CDP. Only for a CRL
   * whose scope is narrower than everything the issuer signed (a partition):
   * NSS refuses to import any CRL with a critical IDP
   * (SEC_ERROR_CRL_UNKNOWN_CRITICAL_EXTENSION), and OpenSSL's
   * -crl_check_all finds certificates without that CDP (the root itself)
   * outside its scope. The node and the offline root publish complete CRLs
   * without one (docs/DESIGN.md, "Revocation, OCSP and CRLs").
   */
  idpUrl?: string;
  /** Called with a throwaway-signed preview before the real signature (lint); throws to refuse. */
  preflight?: Preflight;
}

export interface BuiltCrl {
  der: Uint8Array;
  count: number;
}

/** RFC 5280 5.2.3: a CRL number is at most 20 octets. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n;
/** Give the event loop a turn this often while encoding entries. */
const YIELD_EVERY = 4096;

// ---------------------------------------------------------------------------
// Schemas. TBSCertList mirrors asn1-x509's TBSCertList (RFC 5280 5.1) except
// that revokedCertificates carries already encoded RevokedCertificate values.

/**
 * `revokedCertificates SEQUENCE OF RevokedCertificate` whose elements are
 * already DER-encoded (each by AsnConvert.serialize). asn1js produces the
 * SEQUENCE identifier and length around the concatenated elements; the
 * elements themselves are not re-parsed into object trees.
 */
class EncodedRevokedCertificates implements IAsnConvertible<asn1js.BaseBlock> {
  constructor(readonly content: Uint8Array = new Uint8Array(0)) {}

  toASN(): asn1js.BaseBlock {
    // A universal SEQUENCE (tag 16) whose contents are given as bytes.
    // asn1js.Primitive carries raw contents; SEQUENCE is a constructed
    // encoding, so the identifier's constructed bit is set after creation
    // (Primitive's constructor resets it).
    const block = new asn1js.Primitive({ idBlock: { tagClass: 1, tagNumber: 16 }, valueHex: this.content });
    block.idBlock.isConstructed = true;
    return block;
  }

  toSchema(name: string): asn1js.BaseBlock {
    return new asn1js.Sequence({ name, value: [new asn1js.Repeated({ value: new asn1js.Any() })] });
  }

  fromASN(): this {
    throw new Error('EncodedRevokedCertificates is write-only; parse CRLs with asn1-x509 CertificateList');
  }
}

class StreamedTbsCertList {
  @AsnProp({ type: AsnPropTypes.Integer, optional: true })
  version?: number;
  @AsnProp({ type: asn.AlgorithmIdentifier })
  signature = new asn.AlgorithmIdentifier();
  @AsnProp({ type: asn.Name })
  issuer = new asn.Name();
  @AsnProp({ type: asn.Time })
  thisUpdate = new asn.Time();
  @AsnProp({ type: asn.Time, optional: true })
  nextUpdate?: asn.Time;
  @AsnProp({ type: EncodedRevokedCertificates, optional: true })
  revokedCertificates?: EncodedRevokedCertificates;
  @AsnProp({ type: asn.Extension, optional: true, context: 0, repeated: 'sequence' })
  crlExtensions?: asn.Extension[];

  constructor(params: Partial<StreamedTbsCertList> = {}) {
    Object.assign(this, params);
  }
}

class StreamedCertificateList {
  @AsnProp({ type: StreamedTbsCertList })
  tbsCertList = new StreamedTbsCertList();
  @AsnProp({ type: asn.AlgorithmIdentifier })
  signatureAlgorithm = new asn.AlgorithmIdentifier();
  @AsnProp({ type: AsnPropTypes.BitString })
  signature = new ArrayBuffer(0);

  constructor(params: Partial<StreamedCertificateList> = {}) {
    Object.assign(this, params);
  }
}

// ---------------------------------------------------------------------------

/** Append-only byte buffer with amortised growth (no per-entry objects kept). */
class ByteSink {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;

  push(chunk: ArrayBuffer | Uint8Array): void {
    const need = this.len + chunk.byteLength;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.buf.set(chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk), this.len);
    this.len = need;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function extension(extnID: string, critical: boolean, value: ArrayBuffer): asn.Extension {
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(value) });
}

/**
 * INTEGER contents for a serial given in hex: the library encodes the value,
 * so "00ff", "ff" and "FF" all give the positive integer 255 (contents 00 ff),
 * matching how the certificate carries it.
 */
function serialNumber(serialHex: string): ArrayBuffer {
  const hex = serialHex.replace(/:/g, '').trim();
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new Error(`invalid serial number "${serialHex}"`);
  // Fast path: hex that already is minimal positive INTEGER contents (how the store keeps serials).
  if (hex.length % 2 === 0 && /^[0-7]/.test(hex) && !/^00/.test(hex)) return toArrayBuffer(Buffer.from(hex, 'hex'));
  return toArrayBuffer(asn1js.Integer.fromBigInt(BigInt(`0x${hex}`)).valueBlock.valueHexView);
}

function checkDate(d: Date, what: string): void {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new Error(`${what} is not a valid date`);
}

/** Entry extensions per reason code; reused across entries (they are read-only inputs to the encoder). */
function reasonExtensions(): Map<number, asn.Extension[]> {
  const out = new Map<number, asn.Extension[]>();
  for (const code of Object.values(REVOCATION_REASONS)) {
    if (code === REVOCATION_REASONS.unspecified) continue;
    out.set(code, [extension(asn.id_ce_cRLReasons, false, AsnConvert.serialize(new asn.CRLReason(code)))]);
  }
  return out;
}

let reasonCache: Map<number, asn.Extension[]> | undefined;

/** Encodes one CRL entry (a RevokedCertificate) as DER, ready to be stored and reused. */
export function encodeRevokedEntry(e: RevokedEntry): Uint8Array {
  reasonCache ??= reasonExtensions();
  return new Uint8Array(encodeEntry(e, reasonCache));
}

function encodeEntry(e: RevokedEntry, reasons: Map<number, asn.Extension[]>): ArrayBuffer {
  checkDate(e.revokedAt, 'revokedAt');
  const reason = e.reason ?? REVOCATION_REASONS.unspecified;
  if (!isRevocationReasonCode(reason)) throw new Error(`invalid CRL reason code ${String(e.reason)}`);
  if (reason === REVOCATION_REASONS.removeFromCRL) {
    // RFC 5280 5.3.1: removeFromCRL is only for delta CRLs; this builder makes complete CRLs.
    throw new Error('reason removeFromCRL (8) is only valid in delta CRLs');
  }
  const rc = new asn.RevokedCertificate({
    userCertificate: serialNumber(e.serialHex),
    revocationDate: new asn.Time(e.revokedAt),
    crlEntryExtensions: reasons.get(reason),
  });
  return AsnConvert.serialize(rc);
}

async function* entries(src: Iterable<RevokedEntry> | AsyncIterable<RevokedEntry>): AsyncGenerator<RevokedEntry> {
  if (Symbol.asyncIterator in src) {
    yield* src;
    return;
  }
  // Synchronous sources: iterate directly, yielding to the event loop now and then.
  let n = 0;
  for (const e of src) {
    yield e;
    if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
  }
}

export async function buildCrl(opts: BuildCrlOptions): Promise<BuiltCrl> {
  checkDate(opts.thisUpdate, 'thisUpdate');
  checkDate(opts.nextUpdate, 'nextUpdate');
  if (opts.nextUpdate <= opts.thisUpdate) throw new Error('nextUpdate must be after thisUpdate');
  if (typeof opts.crlNumber !== 'bigint' || opts.crlNumber < 0n || opts.crlNumber > MAX_CRL_NUMBER) {
    throw new Error('crlNumber must be a non-negative integer of at most 20 octets');
  }
  const aki = keyIdentifier(opts.issuerSpki);
  if (!aki.equals(keyIdentifier(opts.signer.spki))) throw new Error('issuerSpki does not match the signer key');

  const reasons = reasonExtensions();
  const sink = new ByteSink();
  let count = 0;
  for await (const e of entries(opts.revoked)) {
    try {
      sink.push(e.der ?? encodeEntry(e, reasons));
    } catch (err) {
      throw new Error(`revoked entry ${count} (serial ${String(e?.serialHex)}): ${(err as Error).message}`);
    }
    count++;
  }

  const crlExtensions = [
    extension(asn.id_ce_authorityKeyIdentifier, false,
      AsnConvert.serialize(new asn.AuthorityKeyIdentifier({ keyIdentifier: new asn.KeyIdentifier(aki) }))),
    extension(asn.id_ce_cRLNumber, false, AsnConvert.serialize(asn1js.Integer.fromBigInt(opts.crlNumber))),
  ];
  if (opts.idpUrl !== undefined) {
    if (!opts.idpUrl) throw new Error('idpUrl must not be empty');
    const idp = new asn.IssuingDistributionPoint({
      distributionPoint: new asn.DistributionPointName({
        fullName: [new asn.GeneralName({ uniformResourceIdentifier: opts.idpUrl })],
      }),
    });
    crlExtensions.push(extension(asn.id_ce_issuingDistributionPoint, true, AsnConvert.serialize(idp)));
  }

  const sigAlg = signatureAlgorithm(opts.signer.algorithm);
  const tbs = new StreamedTbsCertList({
    version: asn.Version.v2,
    signature: sigAlg,
    issuer: opts.issuerName,
    thisUpdate: new asn.Time(opts.thisUpdate),
    nextUpdate: new asn.Time(opts.nextUpdate),
    // RFC 5280 5.1.2.6: when there are no revoked certificates the list MUST be absent.
    revokedCertificates: count > 0 ? new EncodedRevokedCertificates(sink.bytes()) : undefined,
    crlExtensions,
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const assemble = (signature: Uint8Array): Uint8Array =>
    new Uint8Array(AsnConvert.serialize(new StreamedCertificateList({ tbsCertList: tbs, signatureAlgorithm: sigAlg, signature: toArrayBuffer(signature) })));
  // Lint before the real signature (lint-signer.ts): the preflight throws to refuse.
  if (opts.preflight) opts.preflight(assemble(await lintSigner(opts.signer.algorithm).sign(tbsDer)));
  return { der: assemble(await opts.signer.sign(tbsDer)), count };
}

// ---------------------------------------------------------------------------
// Reading helpers (parse the whole CRL; meant for checks and tests, not hot paths).

export interface CrlInfo {
  crlNumber: bigint | null;
  thisUpdate: Date;
  nextUpdate: Date | null;
  count: number;
  /** Issuing Distribution Point fullName URIs, empty when there is no IDP. */
  idpUrls: string[];
  entries: { serialHex: string; revokedAt: Date; reason: number | null }[];
}

function extValue(exts: asn.Extension[] | undefined, oid: string): ArrayBuffer | null {
  const ext = exts?.find((x) => x.extnID === oid);
  return ext ? ext.extnValue.buffer : null;
}

function integerValue(der: ArrayBuffer): bigint {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Integer)) throw new Error('expected an INTEGER');
  return parsed.result.toBigInt();
}

/** Minimal even-length lowercase hex of a (positive) INTEGER's value: contents 00 8f 01 give "8f01". */
function serialToHex(contents: ArrayBuffer): string {
  const hex = new asn1js.Integer({ valueHex: contents }).toBigInt().toString(16);
  return hex.length % 2 ? `0${hex}` : hex;
}

export function parseCrl(der: Uint8Array): CrlInfo {
  // asn1js caps a parse at 10,000 nodes by default, which a CRL passes at a few thousand entries.
  const berOptions = { maxNodes: 64 + der.length / 2, maxContentLength: der.length };
  const tbs = AsnParser.parse(der, asn.CertificateList, { berOptions }).tbsCertList;
  const numberDer = extValue(tbs.crlExtensions, asn.id_ce_cRLNumber);
  const idpDer = extValue(tbs.crlExtensions, asn.id_ce_issuingDistributionPoint);
  const idp = idpDer ? AsnConvert.parse(idpDer, asn.IssuingDistributionPoint) : null;
  const idpUrls = (idp?.distributionPoint?.fullName ?? [])
    .map((g) => g.uniformResourceIdentifier)
    .filter((u): u is string => u !== undefined);
  const entries = (tbs.revokedCertificates ?? []).map((rc) => {
    const reasonDer = extValue(rc.crlEntryExtensions, asn.id_ce_cRLReasons);
    return {
      serialHex: serialToHex(rc.userCertificate),
      revokedAt: rc.revocationDate.getTime(),
      reason: reasonDer ? AsnConvert.parse(reasonDer, asn.CRLReason).reason : null,
    };
  });
  return {
    crlNumber: numberDer ? integerValue(numberDer) : null,
    thisUpdate: tbs.thisUpdate.getTime(),
    nextUpdate: tbs.nextUpdate ? tbs.nextUpdate.getTime() : null,
    count: entries.length,
    idpUrls,
    entries,
  };
}

/** The CRL Number of a DER CRL, or null when the extension is absent. */
export function parseCrlNumber(der: Uint8Array): bigint | null {
  return parseCrl(der).crlNumber;
}

/** Human-readable reason for logs and APIs. */
export function describeReason(code: number | null | undefined): string {
  return reasonName(code ?? 0) ?? `unknown(${String(code)})`;
}
