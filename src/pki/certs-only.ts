import 'reflect-metadata';
/**
 * A CMS "certs-only" message (RFC 5652 SignedData with no signers and no
 * content; RFC 7030 4.1.3 and 4.2.3, RFC 5272 "Simple PKI Response"): how
 * EST hands out certificates. Built with @peculiar/asn1-cms; each
 * certificate is placed as parsed from its DER (and re-encoded by
 * asn1-schema, which reproduces DER as given).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  CertificateChoices, CertificateSet, CMSVersion, ContentInfo, DigestAlgorithmIdentifiers, EncapsulatedContentInfo,
  SignedData, SignerInfos, id_data, id_signedData,
} from '@peculiar/asn1-cms';
import { Certificate } from '@peculiar/asn1-x509';

/** DER of a ContentInfo (signedData) carrying `certs` and nothing else. */
export function certsOnly(certs: readonly Uint8Array[]): Uint8Array {
  const signed = new SignedData({
    version: CMSVersion.v1,
    digestAlgorithms: new DigestAlgorithmIdentifiers([]),
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
    certificates: new CertificateSet(certs.map((der) => new CertificateChoices({ certificate: AsnConvert.parse(der, Certificate) }))),
    signerInfos: new SignerInfos([]),
  });
  return new Uint8Array(AsnConvert.serialize(new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signed) })));
}

/** The certificates (DER) of a certs-only message, in order (for tests and clients). */
export function certsOfCertsOnly(der: Uint8Array): Uint8Array[] {
  const info = AsnConvert.parse(der, ContentInfo);
  if (info.contentType !== id_signedData) throw new Error(`not a signedData ContentInfo (${info.contentType})`);
  const signed = AsnConvert.parse(info.content, SignedData);
  return [...(signed.certificates ?? [])].flatMap((c) => (c.certificate ? [new Uint8Array(AsnConvert.serialize(c.certificate))] : []));
}
