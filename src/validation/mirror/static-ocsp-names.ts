/**
 * How a static copy of OCSP answers is found without a responder: a relying
 * party sends an OCSP request for one certificate without a nonce (what
 * OpenSSL with -no_nonce, NSS, Go and most stapling servers send); that
 * request's DER is fixed by the CertID alone. The mirror stores each answer
 * under the SHA-1 (hex) of the standard base64 of that request, the string
 * a GET carries in its path (RFC 6960 appendix A) and what HAProxy can
 * compute from a GET path (url_dec) or a POST body (base64): the
 * `rampart haproxy-config --validation-mirror` backend rewrites requests to
 * `/ocsp/<that hex>` for a plain static server.
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CertID, OCSPRequest, Request, TBSRequest } from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { hexToSerial, issuerHashes, OCSP_HASH_OIDS, type OcspHashName } from '../ocsp/ocsp-codec.js';

/** DER of an OCSP request naming one certificate, no nonce, no signature; hash parameters NULL as OpenSSL and NSS send them. */
export function singleOcspRequestDer(issuerCertDer: Uint8Array, serialHex: string, hash: OcspHashName): Uint8Array {
  const h = issuerHashes(issuerCertDer, hash);
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: OCSP_HASH_OIDS[hash], parameters: new Uint8Array([0x05, 0x00]).buffer }),
    issuerNameHash: new OctetString(h.nameHash),
    issuerKeyHash: new OctetString(h.keyHash),
    serialNumber: hexToSerial(serialHex),
  });
  const req = new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: certId })] }) });
  return new Uint8Array(AsnConvert.serialize(req));
}

/** The file name of an answer in the mirror: SHA-1 hex of the request's standard base64. */
export function staticOcspName(requestDer: Uint8Array): string {
  return createHash('sha1').update(Buffer.from(requestDer).toString('base64')).digest('hex');
}
