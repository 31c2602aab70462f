/**
 * PKCS#10 requests for CA certificates (RFC 2986): built on the node for a key
 * held in its key backend (signed through the Signer, so an HSM key works the
 * same), and read on the offline host to see whether a CA is asked for.
 * The request carries an extensionRequest with basicConstraints cA=TRUE and
 * keyUsage keyCertSign + cRLSign; the root decides the final extensions.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import type { Signer } from '../keys/key-backend.js';
import { signatureAlgorithm } from '../pki/algorithms.js';
import { toArrayBuffer, toPem } from '../pki/certificate-builder.js';
import { CSR_OIDS } from '../pki/csr.js';

function ext(extnID: string, critical: boolean, value: unknown): asn.Extension {
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** A CSR (PEM) for a CA key: subject, the key's SPKI, and the CA extensions requested. */
export async function buildCaCsr(signer: Signer, subject: asn.Name): Promise<string> {
  const extensions = new asn.Extensions([
    ext(asn.id_ce_basicConstraints, true, new asn.BasicConstraints({ cA: true })),
    ext(asn.id_ce_keyUsage, true, new asn.KeyUsage(asn.KeyUsageFlags.keyCertSign | asn.KeyUsageFlags.cRLSign)),
  ]);
  const info = new CertificationRequestInfo({
    version: 0,
    subject,
    subjectPKInfo: AsnConvert.parse(signer.spki, asn.SubjectPublicKeyInfo),
    attributes: new Attributes([new asn.Attribute({ type: CSR_OIDS.extensionRequest, values: [AsnConvert.serialize(extensions)] })]),
  });
  const signature = await signer.sign(new Uint8Array(AsnConvert.serialize(info)));
  const req = new CertificationRequest({
    certificationRequestInfo: info, signatureAlgorithm: signatureAlgorithm(signer.algorithm), signature: toArrayBuffer(signature),
  });
  return toPem(new Uint8Array(AsnConvert.serialize(req)), 'CERTIFICATE REQUEST');
}

/** basicConstraints from a CSR's extensionRequest, or null when it asks for none. */
export function requestedBasicConstraints(csrDer: Uint8Array): { cA: boolean; pathLen?: number } | null {
  const info = AsnConvert.parse(csrDer, CertificationRequest).certificationRequestInfo;
  for (const attr of info.attributes.filter((a) => a.type === CSR_OIDS.extensionRequest)) {
    for (const v of attr.values) {
      for (const e of AsnConvert.parse(v, asn.Extensions)) {
        if (e.extnID !== asn.id_ce_basicConstraints) continue;
        const bc = AsnConvert.parse(e.extnValue.buffer, asn.BasicConstraints);
        return bc.pathLenConstraint === undefined ? { cA: bc.cA } : { cA: bc.cA, pathLen: bc.pathLenConstraint };
      }
    }
  }
  return null;
}
