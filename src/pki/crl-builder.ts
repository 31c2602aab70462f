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
import { AsnConvert, AsnParser } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import type { Signer } from '../core/signing.js';
import { keyIdentifier, toArrayBuffer } from './certificate-builder.js';
import { encodeCertificateList, encodeCrlTbs } from './crl-assembly.js';
import { extension } from './crl-schema.js';
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

/** Give the event loop a turn this often while encoding entries. */
const YIELD_EVERY = 4096;

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
  if (!keyIdentifier(opts.issuerSpki).equals(keyIdentifier(opts.signer.spki))) throw new Error('issuerSpki does not match the signer key');

  const reasons = reasonExtensions();
  const chunks: Uint8Array[] = [];
  let count = 0;
  for await (const e of entries(opts.revoked)) {
    try {
      chunks.push(e.der ?? new Uint8Array(encodeEntry(e, reasons)));
    } catch (err) {
      throw new Error(`revoked entry ${count} (serial ${String(e?.serialHex)}): ${(err as Error).message}`);
    }
    count++;
  }
  const tbsDer = encodeCrlTbs({
    algorithm: opts.signer.algorithm, issuerNameDer: new Uint8Array(AsnConvert.serialize(opts.issuerName)), issuerSpki: opts.issuerSpki,
    crlNumber: opts.crlNumber, thisUpdate: opts.thisUpdate, nextUpdate: opts.nextUpdate, idpUrl: opts.idpUrl,
  }, chunks, count);
  const assemble = (signature: Uint8Array): Uint8Array => encodeCertificateList(tbsDer, opts.signer.algorithm, signature);
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
