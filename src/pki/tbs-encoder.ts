/**
 * Encodes a TBSCertificate (RFC 5280 4.1) from a certificate template with
 * asn1js and @peculiar/asn1-x509. What every certificate of one profile and
 * issuer shares — the issuer name, the signature algorithm, basicConstraints,
 * keyUsage, extKeyUsage, the authority key identifier, AIA, CRL distribution
 * points and policies — is encoded once and kept (bounded); per certificate
 * only the serial, the validity, the subject, its public key, its key
 * identifier and its subjectAltName are encoded. The output is byte-for-byte
 * what encoding the whole structure each time gives (tbs-encoder.test.ts).
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import type { CertificateTemplate } from './certificate-template.js';
import { EncodedBlock, explicit, schemaDer } from './encoded-block.js';
import { authorityKeyId, leadingExtensions, subjectAltName, trailingExtensions } from './extensions.js';
import { nameDer } from './names.js';

interface SharedParts {
  leading: Uint8Array[];
  authorityKeyId: Uint8Array;
  trailing: Uint8Array[];
}

const MAX_SHARED = 256;
const shared = new Map<string, SharedParts>();

const der = schemaDer;

interface KeyParts { spki: Uint8Array; ski: Uint8Array }
const keys = new Map<string, KeyParts>();

/**
 * The subject public key re-encoded in DER and its key identifier extension,
 * kept (bounded) per key: a key certified again (renewals with the same key,
 * the synthetic inventory's small set of keys) is parsed once.
 */
function keyParts(subjectSpki: Uint8Array): KeyParts {
  const key = Buffer.from(subjectSpki).toString('base64');
  let parts = keys.get(key);
  if (!parts) {
    // One parse of the public key: it is re-encoded in DER and gives the key identifier.
    const spki = AsnConvert.parse(subjectSpki, asn.SubjectPublicKeyInfo);
    const ski = new asn.Extension({
      extnID: asn.id_ce_subjectKeyIdentifier, critical: false,
      extnValue: new OctetString(der(new asn.SubjectKeyIdentifier(createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest()))),
    });
    parts = { spki: der(spki), ski: der(ski) };
    if (keys.size >= MAX_SHARED) keys.delete(keys.keys().next().value!);
    keys.set(key, parts);
  }
  return parts;
}

function sharedParts(t: CertificateTemplate): SharedParts {
  const key = JSON.stringify([
    t.ca ?? null, t.keyUsage, t.extKeyUsage ?? [], t.issuer ? Buffer.from(t.issuer.spki).toString('base64') : null,
    t.ocspUrls ?? [], t.caIssuersUrls ?? [], t.crlUrls ?? [], t.policies ?? [], t.ocspNoCheck ?? false,
  ]);
  let parts = shared.get(key);
  if (!parts) {
    parts = {
      leading: leadingExtensions(t).map(der),
      // Self-signed: the key identifier is the subject's own, so it is not shared.
      authorityKeyId: t.issuer ? der(authorityKeyId(t)) : new Uint8Array(0),
      trailing: trailingExtensions(t).map(der),
    };
    if (shared.size >= MAX_SHARED) shared.delete(shared.keys().next().value!);
    shared.set(key, parts);
  }
  return parts;
}

/** The DER TBSCertificate of `t`, with `signatureAlgorithm` (DER AlgorithmIdentifier) as its signature field. */
export function encodeTbs(t: CertificateTemplate, signatureAlgorithm: Uint8Array): Uint8Array {
  const parts = sharedParts(t);
  const key = keyParts(t.subjectSpki);
  const extensions: Uint8Array[] = [
    ...parts.leading, key.ski,
    t.issuer ? parts.authorityKeyId : der(authorityKeyId(t)),
    ...subjectAltName(t).map(der), ...parts.trailing,
  ];
  const tbs = new asn1js.Sequence({
    value: [
      explicit(0, new asn1js.Integer({ value: asn.Version.v3 })),
      new asn1js.Integer({ valueHex: t.serial }),
      new EncodedBlock(signatureAlgorithm),
      new EncodedBlock(t.issuer ? nameDer(t.issuer.name) : der(t.subject)),
      new EncodedBlock(der(new asn.Validity({ notBefore: t.notBefore, notAfter: t.notAfter }))),
      new EncodedBlock(nameDer(t.subject)),
      new EncodedBlock(key.spki),
      explicit(3, new asn1js.Sequence({ value: extensions.map((e) => new EncodedBlock(e)) })),
    ],
  });
  return new Uint8Array(tbs.toBER());
}
