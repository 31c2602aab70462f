/**
 * Builds a PKCS#10 request (RFC 2986) for a key held in this process: used by
 * `rampart issue --cn/--san` when the CLI generates the key itself, and by tests.
 */
import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { Attribute } from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { hashFor, type KeyAlgorithm } from '../core/signing.js';
import { signatureAlgorithm } from './algorithms.js';
import { generalNames, toPem } from './certificate-builder.js';
import { parseDn } from './names.js';
import { isIP } from 'node:net';

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

export interface BuildCsrOptions {
  key: KeyObject;
  publicKey: KeyObject;
  algorithm: KeyAlgorithm;
  cn: string;
  sans: string[];
}

export async function buildCsr(o: BuildCsrOptions): Promise<string> {
  const spki = o.publicKey.export({ type: 'spki', format: 'der' });
  const dns = o.sans.filter((s) => !isIP(s));
  const ip = o.sans.filter((s) => isIP(s));
  const attributes = [];
  if (o.sans.length) {
    const san = new asn.Extension({
      extnID: asn.id_ce_subjectAltName, critical: false,
      extnValue: new OctetString(AsnConvert.serialize(new asn.SubjectAlternativeName(generalNames({ dns, ip })))),
    });
    attributes.push(new Attribute({ type: EXTENSION_REQUEST, values: [AsnConvert.serialize(new asn.Extensions([san]))] }));
  }
  const info = new CertificationRequestInfo({
    version: 0,
    subject: parseDn(`CN=${o.cn.replace(/([,+"\\<>;=])/g, '\\$1')}`),
    subjectPKInfo: AsnConvert.parse(spki, asn.SubjectPublicKeyInfo),
    attributes: new Attributes(attributes),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const isEc = o.algorithm.startsWith('ecdsa');
  const sig = cryptoSign(hashFor(o.algorithm), infoDer, isEc ? { key: o.key, dsaEncoding: 'der' } : o.key);
  const req = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: signatureAlgorithm(o.algorithm),
    signature: sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.byteLength) as ArrayBuffer,
  });
  return toPem(new Uint8Array(AsnConvert.serialize(req)), 'CERTIFICATE REQUEST');
}
