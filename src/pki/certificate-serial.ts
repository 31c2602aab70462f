/** The serial number of a certificate in the inventory's form (lower-case hex, no leading 00 octets), cached per DER buffer. */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';

const cache = new WeakMap<Uint8Array, string>();

export function certificateSerialHex(der: Uint8Array): string {
  let s = cache.get(der);
  if (s === undefined) {
    s = Buffer.from(AsnConvert.parse(der, Certificate).tbsCertificate.serialNumber).toString('hex').replace(/^(00)+(?=..)/, '');
    cache.set(der, s);
  }
  return s;
}
