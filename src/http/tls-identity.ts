/**
 * The node's own HTTPS identity: a server certificate the node issues itself
 * from its active CA, renewed when it nears expiry or its names change. The
 * private key is kept sealed (AES-256-GCM, scrypt) like every other key.
 */
import { BR_DOMAIN_VALIDATED } from '../config/schema.js';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { Clock } from '../core/clock.js';
import type { CertificateRecord } from '../core/types.js';
import { generateKeyObject } from '../keys/software/software-backend.js';
import { seal, unseal, type SealedBlob } from '../keys/software/key-encryption.js';
import { toPem, fromPem } from '../pki/certificate-builder.js';
import { parseDn } from '../pki/names.js';

export interface TlsIdentity {
  keyPem: string;
  certPem: string;
  caPem: string;
  serial: string;
  notAfter: Date;
}

export interface TlsIdentityOptions {
  dir: string;
  secret: Uint8Array;
  ca: CertificateAuthority;
  clock: Clock;
  hostnames: string[];
  ips: string[];
  validityDays?: number;
  /** Records the issued certificate in the inventory. */
  record: (rec: CertificateRecord) => Promise<void>;
  /** Whether the current certificate must be replaced now, fresh or not (e.g. it was revoked when a campaign finished). */
  replace?: (serial: string) => Promise<boolean>;
}

interface Stored { sealed: SealedBlob; certPem: string; names: string[] }

export async function ensureTlsIdentity(o: TlsIdentityOptions): Promise<TlsIdentity> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const file = join(o.dir, 'node-tls.json');
  const names = [...o.hostnames, ...o.ips].sort();
  const now = o.clock.now();
  const caPem = o.ca.cas().filter((c) => c.kind === 'root').map((c) => toPem(c.certDer)).join('');
  if (existsSync(file)) {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Stored;
    const leaf = new X509Certificate(fromPem(s.certPem)[0]!);
    const notAfter = new Date(leaf.validTo);
    const fresh = notAfter.getTime() - now.getTime() > 7 * 86_400_000;
    const issuer = o.ca.cas().find((c) => leaf.checkIssued(new X509Certificate(c.certDer)));
    const serial = leaf.serialNumber.toLowerCase();
    if (fresh && issuer && JSON.stringify(s.names) === JSON.stringify(names) && !(await o.replace?.(serial))) {
      const key: KeyObject = createPrivateKey({ key: await unseal(o.secret, s.sealed, 'node-tls'), format: 'der', type: 'pkcs8' });
      return { keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: s.certPem, caPem, serial, notAfter };
    }
  }
  const key = generateKeyObject('ecdsa-p256');
  const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  const days = o.validityDays ?? 30;
  const notBefore = new Date(now.getTime() - 60_000);
  // The commonName is one of the SANs (CA/B BR 7.1.4.3); the certificate is a DV TLS server certificate like the server profile's.
  const cn = o.hostnames[0] ?? o.ips[0];
  if (!cn) throw new Error('https.hostnames and https.ips are both empty: the node\'s TLS certificate needs at least one name');
  const signed = await o.ca.signLeaf({
    subjectName: parseDn(`CN=${cn}`), spki,
    san: { dns: o.hostnames, ip: o.ips }, keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
    notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000), policies: [BR_DOMAIN_VALIDATED],
  });
  const certPem = toPem(signed.der) + o.ca.chain(signed.issuer.id).map((c) => toPem(c)).join('');
  const leafX = new X509Certificate(signed.der);
  await o.record({
    serial: signed.serial, issuerId: signed.issuer.id, profile: 'node-tls', subject: leafX.subject.replace(/\n/g, ', '),
    sans: names, notBefore, notAfter: new Date(leafX.validTo), der: signed.der, status: 'good', revokedAt: null,
    revocationReason: null, createdAt: now, requester: 'system',
  });
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const stored: Stored = { sealed: await seal(o.secret, pkcs8, 'node-tls'), certPem, names };
  pkcs8.fill(0);
  writeFileSync(`${file}.tmp`, JSON.stringify(stored), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return { keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem, caPem, serial: signed.serial, notAfter: new Date(leafX.validTo) };
}
