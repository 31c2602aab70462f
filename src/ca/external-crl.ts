import 'reflect-metadata';
/**
 * CRLs signed elsewhere (the offline root's, from `rampart root crl`) that a
 * node publishes as they are: checked for issuer, signature, number and
 * freshness before they replace the current one.
 */
import { Name as AsnName } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { X509Certificate, X509Crl } from '@peculiar/x509';
import type { CrlRecord, IssuerRecord } from '../core/types.js';
import { toArrayBuffer } from '../pki/certificate-builder.js';
import { parseCrl } from '../pki/crl-builder.js';
import { parseIssuerName } from './certificate-authority.js';

export async function verifyExternalCrl(der: Uint8Array, issuer: IssuerRecord, latest: CrlRecord | null, now: Date): Promise<CrlRecord> {
  let crl: X509Crl;
  let info: ReturnType<typeof parseCrl>;
  try {
    crl = new X509Crl(toArrayBuffer(der));
    info = parseCrl(der);
  } catch (e) {
    throw new Error(`not a CRL: ${(e as Error).message}`);
  }
  const want = Buffer.from(AsnConvert.serialize(parseIssuerName(issuer)));
  const got = Buffer.from(AsnConvert.serialize(AsnConvert.parse(crl.issuerName.toArrayBuffer(), AsnName)));
  if (!want.equals(got)) throw new Error(`the CRL is issued by "${crl.issuer}", not by ${issuer.id} (${issuer.subject})`);
  if (!(await crl.verify({ publicKey: new X509Certificate(toArrayBuffer(issuer.certDer)) }))) throw new Error(`the CRL signature does not verify with the key of ${issuer.id}`);
  if (info.crlNumber === null) throw new Error('the CRL has no CRL number');
  if (!info.nextUpdate) throw new Error('the CRL has no nextUpdate');
  if (info.nextUpdate <= now) throw new Error(`the CRL expired at ${info.nextUpdate.toISOString()} (nextUpdate): produce a fresh one`);
  if (info.thisUpdate.getTime() > now.getTime() + 3_600_000) throw new Error(`the CRL's thisUpdate ${info.thisUpdate.toISOString()} is in the future: check the offline host's clock`);
  if (latest && info.crlNumber <= latest.number) {
    throw new Error(`CRL number ${info.crlNumber} is not newer than the published CRL #${latest.number} of ${issuer.id}`);
  }
  return { issuerId: issuer.id, number: info.crlNumber, thisUpdate: info.thisUpdate, nextUpdate: info.nextUpdate, der, entries: info.count };
}
