/**
 * A request rebuilt from an issued certificate: its subject, public key and
 * subjectAltName, in the shape a parsed CSR has. Re-issuance campaigns
 * (issue 20) re-issue a REST certificate from the public key already on
 * record; the holder proved possession of that key when it was issued.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import { describeKey, generalNamesToSans, type ParsedCsr } from './csr.js';
import { dnToString } from './names.js';

const SAN_OID = '2.5.29.17';
const CN_OID = '2.5.4.3';

export function requestFromCertificate(der: Uint8Array): ParsedCsr {
  const cert = AsnConvert.parse(der, asn.Certificate);
  const tbs = cert.tbsCertificate;
  const sanExt = tbs.extensions?.find((e) => e.extnID === SAN_OID);
  const san = sanExt ? generalNamesToSans([...AsnConvert.parse(sanExt.extnValue, asn.SubjectAlternativeName)]) : { dns: [], ip: [], email: [], uri: [] };
  const cns = tbs.subject.flatMap((rdn) => [...rdn]).filter((a) => a.type === CN_OID).map((a) => a.value.toString());
  return {
    der, subject: dnToString(tbs.subject), subjectName: tbs.subject, commonName: cns.at(-1),
    spki: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)), key: describeKey(tbs.subjectPublicKeyInfo), san,
  };
}
