/**
 * EST re-enrollment identity (RFC 7030 3.3.2, 4.2.2): the client presents,
 * as its TLS client certificate, the certificate it renews. It is accepted
 * when it was signed by one of this CA's issuers (checked here, not by the
 * TLS stack: the listener asks for a certificate without requiring one), is
 * within its validity, and is in the inventory as this very certificate and
 * not revoked; all state comes from the store, so any node of a cluster
 * decides alike. The CSR must then name the same subject and
 * subjectAltNames as the certificate.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { CertificateRecord } from '../core/types.js';
import { RampartError } from '../core/errors.js';
import { certificateSerialHex } from '../pki/certificate-serial.js';
import type { ParsedCsr } from '../pki/csr.js';
import { nameDer } from '../pki/names.js';
import { canonicalIp } from '../ra/policy.js';
import type { CertificateStore } from '../storage/store.js';

const refuse = (why: string): RampartError => new RampartError('unauthorized', why);

/** The DER of the TLS client certificate on this socket, or null when none was presented (or the connection is not TLS). */
export function peerCertificateDer(socket: unknown): Uint8Array | null {
  const s = socket as TLSSocket;
  if (!s || typeof s.getPeerCertificate !== 'function') return null;
  const peer = s.getPeerCertificate();
  return peer && peer.raw ? new Uint8Array(peer.raw) : null;
}

/**
 * The inventory record of a presented client certificate that may be
 * renewed; throws RampartError('unauthorized') naming why not.
 */
export async function renewableCertificate(der: Uint8Array | null, ca: CertificateAuthority, store: CertificateStore, now: Date): Promise<CertificateRecord> {
  if (!der) throw refuse('simplereenroll needs the certificate being renewed as the TLS client certificate');
  let cert: X509Certificate;
  try { cert = new X509Certificate(der); } catch { throw refuse('the TLS client certificate could not be parsed'); }
  const issuer = ca.cas().find((i) => {
    const x = new X509Certificate(i.certDer);
    return cert.checkIssued(x) && cert.verify(x.publicKey);
  });
  if (!issuer) throw refuse('the TLS client certificate was not issued by this CA');
  if (new Date(cert.validFrom) > now || new Date(cert.validTo) <= now) throw refuse('the TLS client certificate is not within its validity period');
  const rec = await store.getCertificate(certificateSerialHex(der));
  if (!rec || rec.issuerId !== issuer.id || Buffer.compare(Buffer.from(rec.der), Buffer.from(der)) !== 0) {
    throw refuse('the TLS client certificate is not in this CA\'s inventory');
  }
  if (rec.status !== 'good') throw refuse('the TLS client certificate is revoked');
  return rec;
}

const sanKey = (names: Iterable<string>): string => [...new Set([...names].map((n) => n.toLowerCase()))].sort().join('\n');

/** RFC 7030 4.2.2: the re-enrollment CSR's subject and subjectAltNames are those of the certificate being renewed. */
export function checkSameIdentity(csr: ParsedCsr, current: CertificateRecord): void {
  const subject = new Uint8Array(AsnConvert.serialize(AsnConvert.parse(current.der, Certificate).tbsCertificate.subject));
  if (Buffer.compare(Buffer.from(nameDer(csr.subjectName)), Buffer.from(subject)) !== 0) {
    throw new RampartError('badCsr', `the re-enrollment CSR's subject (${csr.subject}) differs from the certificate's (${current.subject}) (RFC 7030 4.2.2)`, { rule: 'reenrollSubject' });
  }
  const requested = [...csr.san.dns, ...csr.san.ip.map((ip) => canonicalIp(ip) ?? ip), ...csr.san.email, ...csr.san.uri];
  if (sanKey(requested) !== sanKey(current.sans)) {
    throw new RampartError('badCsr', `the re-enrollment CSR's subjectAltNames (${requested.join(', ') || 'none'}) differ from the certificate's (${current.sans.join(', ') || 'none'}) (RFC 7030 4.2.2)`, { rule: 'reenrollSubjectAltName' });
  }
}
