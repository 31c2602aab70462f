/**
 * Asks an OCSP responder over HTTP (POST, RFC 6960 appendix A) for the status
 * of one certificate: the request is built from the issuer certificate and
 * the serial with @peculiar/asn1-ocsp, the answer read with the project's
 * codec (src/validation/ocsp/ocsp-codec.ts).
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as ocsp from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { OID } from '../pki/algorithms.js';
import { issuerHashes, readOcspResponse } from '../validation/ocsp/ocsp-codec.js';
import { httpCall } from '../core/http-client.js';

export function ocspRequestDer(issuerCertDer: Uint8Array, serialHex: string): Uint8Array {
  const { nameHash, keyHash } = issuerHashes(issuerCertDer, 'sha1');
  let serial = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex');
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  const reqCert = new ocsp.CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha1, parameters: null }),
    issuerNameHash: new OctetString(nameHash), issuerKeyHash: new OctetString(keyHash),
    serialNumber: new Uint8Array(serial).buffer,
  });
  return new Uint8Array(AsnConvert.serialize(new ocsp.OCSPRequest({ tbsRequest: new ocsp.TBSRequest({ requestList: [new ocsp.Request({ reqCert })] }) })));
}

export async function ocspStatus(ocspUrl: string, issuerCertDer: Uint8Array, serialHex: string): Promise<'good' | 'revoked' | 'unknown'> {
  const r = await httpCall(ocspUrl, { method: 'POST', body: ocspRequestDer(issuerCertDer, serialHex), headers: { 'content-type': 'application/ocsp-request' } });
  if (r.status !== 200) throw new Error(`OCSP ${ocspUrl} answered HTTP ${r.status}`);
  const resp = readOcspResponse(r.raw);
  if (resp.status !== 'successful') throw new Error(`OCSP response status ${resp.status}`);
  const want = serialHex.toLowerCase().replace(/^0+(?=.)/, '');
  const single = resp.responses.find((x) => x.certId.serialHex.replace(/^0+(?=.)/, '') === want);
  if (!single) throw new Error(`the OCSP response has no answer for serial ${serialHex}`);
  return single.status;
}
