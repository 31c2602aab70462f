import 'reflect-metadata';
/** Distinguished names: parse "CN=x, O=y" strings into ASN.1 Names (through @peculiar/x509). */
import { Name as X509Name } from '@peculiar/x509';
import { Name } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';

export function parseDn(dn: string): Name {
  if (!dn.trim()) throw new Error('subject name is empty');
  let der: ArrayBuffer;
  try {
    der = new X509Name(dn).toArrayBuffer();
  } catch (e) {
    throw new Error(`invalid distinguished name "${dn}": ${(e as Error).message}`);
  }
  return AsnConvert.parse(der, Name);
}

export function dnToString(name: Name): string {
  return new X509Name(AsnConvert.serialize(name)).toString();
}

export function nameDer(name: Name): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(name));
}
