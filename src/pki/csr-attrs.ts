import 'reflect-metadata';
/**
 * EST CSR attributes (RFC 7030 4.5.2): `CsrAttrs ::= SEQUENCE SIZE (0..MAX)
 * OF AttrOrOID`, `AttrOrOID ::= CHOICE (oid OBJECT IDENTIFIER, attribute
 * Attribute)`. What a profile wants in a CSR, as hints to the client: the
 * key type (an ecPublicKey attribute naming the curve, or rsaEncryption)
 * and the signature algorithm. Encoded with @peculiar/asn1-schema.
 */
import * as asn1js from 'asn1js';
import { AsnArray, AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import { Attribute } from '@peculiar/asn1-x509';
import { OID } from './algorithms.js';

@AsnType({ type: AsnTypeTypes.Choice })
export class AttrOrOid {
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier }) oid?: string;
  @AsnProp({ type: Attribute }) attribute?: Attribute;
  constructor(params: Partial<AttrOrOid> = {}) { Object.assign(this, params); }
}

@AsnType({ type: AsnTypeTypes.Sequence, itemType: AttrOrOid })
export class CsrAttrs extends AsnArray<AttrOrOid> {
  constructor(items?: AttrOrOid[]) {
    super(items);
    Object.setPrototypeOf(this, CsrAttrs.prototype);
  }
}

const CURVE_OIDS: Record<string, string> = { 'P-256': OID.p256, 'P-384': OID.p384 };

/** What a profile accepts, as CSR attributes: the preferred key type first (ECDSA when allowed), then its signature algorithm. */
export interface CsrAttrsHint {
  ecdsaCurves: readonly string[] | null;
  rsa: boolean;
}

export function csrAttrsDer(h: CsrAttrsHint): Uint8Array {
  const items: AttrOrOid[] = [];
  const curve = h.ecdsaCurves?.map((c) => CURVE_OIDS[c]).find((o) => o !== undefined);
  if (curve) {
    const value = new asn1js.ObjectIdentifier({ value: curve }).toBER();
    items.push(new AttrOrOid({ attribute: new Attribute({ type: OID.ecPublicKey, values: [value] }) }));
    items.push(new AttrOrOid({ oid: curve === OID.p384 ? OID.ecdsaWithSha384 : OID.ecdsaWithSha256 }));
  } else if (h.rsa) {
    items.push(new AttrOrOid({ oid: OID.rsaEncryption }), new AttrOrOid({ oid: OID.sha256WithRsa }));
  }
  return new Uint8Array(AsnConvert.serialize(new CsrAttrs(items)));
}

/** The OIDs of a CsrAttrs (the attribute types for attributes), in order. */
export function csrAttrsOids(der: Uint8Array): string[] {
  return [...AsnConvert.parse(der, CsrAttrs)].map((a) => a.oid ?? a.attribute!.type);
}
