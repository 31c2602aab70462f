/**
 * The encoding half of a CRL, as plain functions over plain data so that it
 * runs in a worker thread (src/pki/pool): the TBSCertList around entries
 * that were DER-encoded once, at revocation (encodeRevokedEntry), and the
 * CertificateList around a TBSCertList and the signature the CA key made on
 * the caller's thread. Entries arrive as chunks of concatenated DER; they
 * are joined once into one exactly sized buffer, and the structures around
 * them are encoded by asn1-schema / asn1js (no tag or length bytes are
 * written here).
 */
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import type { KeyAlgorithm } from '../core/signing.js';
import { signatureAlgorithm } from './algorithms.js';
import { keyIdentifier } from './certificate-builder.js';
import { sequenceOf } from './encoded-block.js';
import { crlExtensions, EncodedRevokedCertificates, StreamedTbsCertList } from './crl-schema.js';

/** Everything of a TBSCertList but its entries, as plain data (structured-clone safe). */
export interface CrlHeader {
  algorithm: KeyAlgorithm;
  /** DER Name of the issuing CA. */
  issuerNameDer: Uint8Array;
  /** DER SubjectPublicKeyInfo of the issuing CA (its key identifier is the AKI). */
  issuerSpki: Uint8Array;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Issuing Distribution Point fullName URI (critical): only for a shard CRL. */
  idpUrl?: string;
}

/** A TBSCertList's DER from a header and the entries' DER (chunks of whole RevokedCertificate encodings). */
export function encodeCrlTbs(h: CrlHeader, chunks: Uint8Array[], count: number): Uint8Array {
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  const content = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { content.set(c, at); at += c.byteLength; }
  chunks.length = 0; // the joined copy replaces them
  return tbsFrom(h, content, count);
}

function tbsFrom(h: CrlHeader, content: Uint8Array, count: number): Uint8Array {
  const tbs = new StreamedTbsCertList({
    version: asn.Version.v2,
    signature: signatureAlgorithm(h.algorithm),
    issuer: AsnConvert.parse(h.issuerNameDer, asn.Name),
    thisUpdate: new asn.Time(h.thisUpdate),
    nextUpdate: new asn.Time(h.nextUpdate),
    // RFC 5280 5.1.2.6: when there are no revoked certificates the list MUST be absent.
    revokedCertificates: count > 0 ? new EncodedRevokedCertificates(content) : undefined,
    crlExtensions: crlExtensions(keyIdentifier(h.issuerSpki), h.crlNumber, h.idpUrl),
  });
  return new Uint8Array(AsnConvert.serialize(tbs));
}

/** The CertificateList: the TBSCertList's DER as is, the signature algorithm and the signature. */
export function encodeCertificateList(tbsDer: Uint8Array, algorithm: KeyAlgorithm, signature: Uint8Array): Uint8Array {
  return sequenceOf([tbsDer, new Uint8Array(AsnConvert.serialize(signatureAlgorithm(algorithm))), new asn1js.BitString({ valueHex: signature })]);
}
