/**
 * Schemas of a CRL whose entries are already encoded: TBSCertList mirrors
 * asn1-x509's TBSCertList (RFC 5280 5.1) except that revokedCertificates
 * carries the concatenated DER of RevokedCertificate values; and the CRL
 * extensions (AKI, CRL number, and for a shard the critical Issuing
 * Distribution Point of RFC 5280 5.2.5).
 */
import * as asn1js from 'asn1js';
import { AsnConvert, AsnProp, AsnPropTypes, OctetString, type IAsnConvertible } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';

/**
 * `revokedCertificates SEQUENCE OF RevokedCertificate` whose elements are
 * already DER-encoded (each by AsnConvert.serialize). asn1js produces the
 * SEQUENCE identifier and length around the concatenated elements; the
 * elements themselves are not re-parsed into object trees.
 */
export class EncodedRevokedCertificates implements IAsnConvertible<asn1js.BaseBlock> {
  constructor(readonly content: Uint8Array = new Uint8Array(0)) {}

  toASN(): asn1js.BaseBlock {
    // A universal SEQUENCE (tag 16) whose contents are given as bytes.
    // asn1js.Primitive carries raw contents; SEQUENCE is a constructed
    // encoding, so the identifier's constructed bit is set after creation
    // (Primitive's constructor resets it).
    const block = new asn1js.Primitive({ idBlock: { tagClass: 1, tagNumber: 16 }, valueHex: this.content });
    block.idBlock.isConstructed = true;
    return block;
  }

  toSchema(name: string): asn1js.BaseBlock {
    return new asn1js.Sequence({ name, value: [new asn1js.Repeated({ value: new asn1js.Any() })] });
  }

  fromASN(): this {
    throw new Error('EncodedRevokedCertificates is write-only; parse CRLs with asn1-x509 CertificateList');
  }
}

export class StreamedTbsCertList {
  @AsnProp({ type: AsnPropTypes.Integer, optional: true })
  version?: number;
  @AsnProp({ type: asn.AlgorithmIdentifier })
  signature = new asn.AlgorithmIdentifier();
  @AsnProp({ type: asn.Name })
  issuer = new asn.Name();
  @AsnProp({ type: asn.Time })
  thisUpdate = new asn.Time();
  @AsnProp({ type: asn.Time, optional: true })
  nextUpdate?: asn.Time;
  @AsnProp({ type: EncodedRevokedCertificates, optional: true })
  revokedCertificates?: EncodedRevokedCertificates;
  @AsnProp({ type: asn.Extension, optional: true, context: 0, repeated: 'sequence' })
  crlExtensions?: asn.Extension[];

  constructor(params: Partial<StreamedTbsCertList> = {}) {
    Object.assign(this, params);
  }
}

/** RFC 5280 5.2.3: a CRL number is at most 20 octets. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n;

export function extension(extnID: string, critical: boolean, value: ArrayBuffer): asn.Extension {
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(value) });
}

/**
 * The CRL extensions: authorityKeyIdentifier, cRLNumber and, for a CRL
 * whose scope is one shard, a critical issuingDistributionPoint whose
 * fullName is the URI the shard's certificates carry in their CDP.
 */
export function crlExtensions(aki: Uint8Array, crlNumber: bigint, idpUrl?: string): asn.Extension[] {
  if (typeof crlNumber !== 'bigint' || crlNumber < 0n || crlNumber > MAX_CRL_NUMBER) {
    throw new Error('crlNumber must be a non-negative integer of at most 20 octets');
  }
  const out = [
    extension(asn.id_ce_authorityKeyIdentifier, false,
      AsnConvert.serialize(new asn.AuthorityKeyIdentifier({ keyIdentifier: new asn.KeyIdentifier(aki) }))),
    extension(asn.id_ce_cRLNumber, false, AsnConvert.serialize(asn1js.Integer.fromBigInt(crlNumber))),
  ];
  if (idpUrl !== undefined) {
    if (!idpUrl) throw new Error('idpUrl must not be empty');
    const idp = new asn.IssuingDistributionPoint({
      distributionPoint: new asn.DistributionPointName({ fullName: [new asn.GeneralName({ uniformResourceIdentifier: idpUrl })] }),
    });
    out.push(extension(asn.id_ce_issuingDistributionPoint, true, AsnConvert.serialize(idp)));
  }
  return out;
}
