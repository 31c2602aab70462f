/** A parsed OCSP request (ocsp-codec.ts parses, ocsp-request-shapes.ts matches known shapes). */
export interface OcspCertId {
  /** Hash algorithm OID (SHA-1 or SHA-256). */
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lower-case hex, no leading 00 octets (at least one octet). */
  serialHex: string;
}

export interface ParsedOcspRequest {
  requests: OcspCertId[];
  /** RFC 8954 nonce: the contents of the OCTET STRING, 1..32 octets. */
  nonce?: Buffer;
}
