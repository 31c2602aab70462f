/**
 * Operator login by mutual TLS: short-lived client certificates (clientAuth,
 * CN "operator:<name>", at most 7 days) issued by Rampart's own active CA
 * and recorded in the inventory with profile 'operator-client'. A client
 * certificate is accepted when the TLS handshake verified it against the
 * root, it is in the inventory with that profile, good and unexpired, and
 * its operator is active: revoking the certificate or deprovisioning the
 * operator stops it at the next request.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { AuditLog } from '../audit/audit-log.js';
import type { Actor } from '../core/actor.js';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { Clock } from '../core/clock.js';
import type { CertificateRecord, OperatorRecord } from '../core/types.js';
import { RampartError } from '../core/errors.js';
import { generateKeyObject } from '../keys/software/software-backend.js';
import { toPem } from '../pki/certificate-builder.js';
import { parseDn } from '../pki/names.js';
import type { CertificateStore, OperatorStore } from '../storage/store.js';

export const OPERATOR_CLIENT_PROFILE = 'operator-client';
export const MAX_CLIENT_CERT_HOURS = 168;
const CN_PREFIX = 'operator:';

export interface OperatorClientCert { certPem: string; keyPem: string; serial: string; notAfter: Date }

export async function issueOperatorClientCert(o: {
  operator: OperatorRecord; hours: number; ca: CertificateAuthority; store: CertificateStore; clock: Clock; audit: AuditLog; actor: Actor;
}): Promise<OperatorClientCert> {
  if (o.operator.disabledAt) throw new RampartError('conflict', `operator "${o.operator.name}" is deprovisioned`);
  if (!Number.isInteger(o.hours) || o.hours < 1 || o.hours > MAX_CLIENT_CERT_HOURS) throw new RampartError('malformed', `hours must be 1..${MAX_CLIENT_CERT_HOURS}`);
  const key = generateKeyObject('ecdsa-p256');
  const now = o.clock.now();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + o.hours * 3_600_000);
  const signed = await o.ca.signLeaf({
    subjectName: parseDn(`CN=${CN_PREFIX}${o.operator.name}`), spki: new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' })),
    san: { dns: [], ip: [], email: [] }, keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.2'], notBefore, notAfter,
  });
  const rec: CertificateRecord = {
    serial: signed.serial, issuerId: signed.issuer.id, profile: OPERATOR_CLIENT_PROFILE, subject: `CN=${CN_PREFIX}${o.operator.name}`, sans: [],
    notBefore, notAfter: notAfter > signed.issuer.notAfter ? signed.issuer.notAfter : notAfter, der: signed.der, status: 'good',
    revokedAt: null, revocationReason: null, createdAt: now, requester: o.actor.id,
  };
  await o.store.insertCertificate(rec, undefined, undefined, o.audit.builder({
    actor: o.actor.id, source: o.actor.source, channel: o.actor.channel, action: 'operator.client-cert', target: `serial:${rec.serial}`, outcome: 'success',
    details: { operator: o.operator.name, notAfter: rec.notAfter.toISOString() },
  }));
  return {
    certPem: toPem(signed.der) + o.ca.chain(signed.issuer.id).map((c) => toPem(c)).join(''),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), serial: rec.serial, notAfter: rec.notAfter,
  };
}

/**
 * The operator behind the request's verified client certificate; null when
 * none was presented; throws 'unauthorized' for one that is presented but
 * not acceptable.
 */
export async function operatorFromClientCert(socket: unknown, store: CertificateStore & OperatorStore, now: Date): Promise<OperatorRecord | null> {
  const s = socket as TLSSocket;
  if (!s || typeof s.getPeerCertificate !== 'function') return null;
  const peer = s.getPeerCertificate();
  if (!peer || !peer.raw) return null;
  if (!s.authorized) throw new RampartError('unauthorized', `the client certificate was not issued by this CA (${String(s.authorizationError ?? 'unverified')})`);
  const serial = new X509Certificate(peer.raw).serialNumber.toLowerCase();
  const rec = await store.getCertificate(serial) ?? await store.getCertificate(serial.replace(/^0+(?=.)/, ''));
  if (!rec || rec.profile !== OPERATOR_CLIENT_PROFILE) throw new RampartError('unauthorized', 'the client certificate is not an operator certificate of this CA');
  if (rec.status !== 'good') throw new RampartError('unauthorized', 'the client certificate is revoked');
  if (rec.notAfter <= now) throw new RampartError('unauthorized', 'the client certificate has expired');
  const name = rec.subject.startsWith(`CN=${CN_PREFIX}`) ? rec.subject.slice(`CN=${CN_PREFIX}`.length) : '';
  const op = name ? await store.getOperatorByName(name) : null;
  if (!op || op.disabledAt) throw new RampartError('unauthorized', 'the operator of this client certificate is deprovisioned');
  return op;
}
