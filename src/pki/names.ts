import 'reflect-metadata';
/** Distinguished names: parse "CN=x, O=y" strings into ASN.1 Names (through @peculiar/x509). */
import { Name as X509Name } from '@peculiar/x509';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
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
  return new X509Name(nameDer(name) as Uint8Array<ArrayBuffer>).toString();
}

const encodedNames = new WeakMap<Name, Uint8Array>();

/** The DER of a Name, kept per object: issuer names are the same objects for every certificate, and a subject is encoded once per issuance. */
export function nameDer(name: Name): Uint8Array {
  let d = encodedNames.get(name);
  if (!d) {
    d = new Uint8Array(AsnConvert.serialize(name));
    encodedNames.set(name, d);
  }
  return d;
}

/** Records the DER a Name was parsed from (a subject handed to a worker as DER is not encoded again). */
export function rememberNameDer(name: Name, der: Uint8Array): void {
  encodedNames.set(name, der);
}

const CN_OID = '2.5.4.3';

/**
 * The subject of a certificate made from a CSR's subject: the attributes
 * whose type is in `keep` (in the CSR's order, CSR encoding kept), and the
 * commonName `commonName` (the CSR's own attribute when it has that value,
 * else a new UTF8String one at the end). Everything else is left out.
 */
export function filteredName(csrName: Name, keep: readonly string[], commonName?: string): Name {
  const out = new Name();
  let cnDone = commonName === undefined;
  for (const rdn of csrName) {
    const atvs = rdn.filter((atv) => {
      if (atv.type === CN_OID) {
        if (cnDone || atv.value.toString() !== commonName) return false;
        cnDone = true;
        return true;
      }
      return keep.includes(atv.type);
    });
    if (atvs.length) out.push(new RelativeDistinguishedName(atvs));
  }
  if (!cnDone) {
    out.push(new RelativeDistinguishedName([new AttributeTypeAndValue({ type: CN_OID, value: new AttributeValue({ utf8String: commonName! }) })]));
    return out;
  }
  // Nothing left out: the CSR's own Name (its DER, when known, is not encoded again).
  const kept = (n: Name): number => n.reduce((k, rdn) => k + rdn.length, 0);
  return out.length === csrName.length && kept(out) === kept(csrName) ? csrName : out;
}
