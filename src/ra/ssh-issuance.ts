/**
 * SSH certificate issuance and revocation (issue 21): profile policy, signing
 * by the SSH CA (key in the key backend), durable storage with the audit
 * entry in the same transaction before any answer, and a new KRL after each
 * revocation. Refused requests are audited like X.509 ones.
 */
import type { Actor } from '../core/actor.js';
import type { Clock } from '../core/clock.js';
import { RampartError, isRampartError } from '../core/errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { SshProfile } from '../config/ssh-config.js';
import { newSshSerial, type SshAuthority } from '../ca/ssh/ssh-authority.js';
import type { WriteGate } from '../cluster/cluster.js';
import { parseSshPublicKey } from '../pki/ssh/ssh-keys.js';
import type { SshCertificateRecord } from '../storage/ssh-records.js';
import type { SshStore } from '../storage/store.js';
import { checkSshRequest, type SshRequest } from './ssh-policy.js';

export interface SshIssuanceOptions {
  authority: SshAuthority;
  store: SshStore;
  audit: AuditLog;
  clock: Clock;
  profiles: Record<string, SshProfile>;
  gate?: WriteGate;
  onError?: (e: unknown) => void;
}

const KEY_ID = /^[\x20-\x7e]{1,200}$/;

export class SshIssuance {
  constructor(private readonly o: SshIssuanceOptions) {}

  profileNames(): string[] { return Object.keys(this.o.profiles); }

  async issue(req: SshRequest, actor: Actor): Promise<SshCertificateRecord> {
    try {
      return await this.issueInner(req, actor);
    } catch (e) {
      if (isRampartError(e)) {
        await this.o.audit.record({
          actor: actor.id, source: actor.source, channel: actor.channel, action: 'ssh.certificate.issue', target: `ssh-profile:${req.profile}`,
          outcome: e.code === 'policyViolation' || e.code === 'forbidden' ? 'denied' : 'failure', details: { error: e.code, message: e.message, ...e.extra },
        });
      }
      throw e;
    }
  }

  private async issueInner(req: SshRequest, actor: Actor): Promise<SshCertificateRecord> {
    const profile = Object.prototype.hasOwnProperty.call(this.o.profiles, req.profile) ? this.o.profiles[req.profile] : undefined;
    if (!profile) throw new RampartError('unknownProfile', `unknown SSH profile "${req.profile}"; known: ${this.profileNames().join(', ') || 'none (configure ssh.profiles)'}`);
    let key;
    try {
      key = parseSshPublicKey(req.publicKey);
    } catch (e) {
      throw new RampartError('malformed', `publicKey: ${(e as Error).message}`);
    }
    const decided = checkSshRequest(req.profile, profile, req, actor);
    if (req.keyId !== undefined && !KEY_ID.test(req.keyId)) throw new RampartError('malformed', 'keyId must be 1-200 printable ASCII characters');
    const ca = await this.o.authority.ca(profile.ca);
    if (ca.type !== profile.type) throw new RampartError('internal', `SSH profile "${req.profile}" issues ${profile.type} certificates but CA ${ca.name} is a ${ca.type} CA`);
    const fence = this.o.gate?.writeFence();
    const now = this.o.clock.now();
    // Back-dated a minute for clocks that lag, like X.509 certificates.
    const validAfter = new Date(Math.floor((now.getTime() - 60_000) / 1000) * 1000);
    const validBefore = new Date(validAfter.getTime() + decided.validitySeconds * 1000);
    const serial = newSshSerial();
    const keyId = req.keyId ?? `${actor.id} ${decided.principals.join(',')}`.slice(0, 200);
    const cert = await this.o.authority.sign(ca, {
      publicKey: key.blob, serial, type: profile.type, keyId, principals: decided.principals, validAfter, validBefore,
      criticalOptions: decided.criticalOptions, extensions: decided.extensions,
    });
    const rec: SshCertificateRecord = {
      serial: serial.toString(), caName: ca.name, profile: req.profile, type: profile.type, keyId, principals: decided.principals,
      keyFingerprint: key.fingerprint, validAfter, validBefore, cert, status: 'good', revokedAt: null, createdAt: now, requester: actor.id,
    };
    await this.o.store.insertSshCertificate(rec, this.o.audit.builder({
      actor: actor.id, source: actor.source, channel: actor.channel, action: 'ssh.certificate.issue', target: `ssh-serial:${rec.serial}`, outcome: 'success',
      details: {
        ca: ca.name, profile: req.profile, type: rec.type, keyId, principals: rec.principals, key: key.fingerprint, validBefore: validBefore.toISOString(),
        criticalOptions: decided.criticalOptions, extensions: decided.extensions,
      },
    }), fence);
    return rec;
  }

  /** Revokes (durable, audited in the same transaction), then publishes the CA's new KRL before answering. */
  async revoke(serialInput: string, actor: Actor): Promise<SshCertificateRecord> {
    const serial = /^[0-9]{1,20}$/.test(serialInput) ? BigInt(serialInput).toString() : null;
    try {
      if (!serial) throw new RampartError('malformed', `"${serialInput.slice(0, 64)}" is not a decimal SSH certificate serial`);
      const fence = this.o.gate?.writeFence();
      const rec = await this.o.store.revokeSshCertificate(serial, this.o.clock.now(), this.o.audit.builder({
        actor: actor.id, source: actor.source, channel: actor.channel, action: 'ssh.certificate.revoke', target: `ssh-serial:${serial}`, outcome: 'success', details: {},
      }), fence);
      try {
        await this.o.authority.publishKrl(rec.caName);
      } catch (e) {
        // The revocation is durable; the KRL is rebuilt by the next request for it (SshAuthority.krl).
        this.o.onError?.(e);
      }
      return rec;
    } catch (e) {
      if (isRampartError(e)) {
        await this.o.audit.record({
          actor: actor.id, source: actor.source, channel: actor.channel, action: 'ssh.certificate.revoke', target: `ssh-serial:${serial ?? serialInput.slice(0, 64)}`,
          outcome: 'failure', details: { error: e.code, message: e.message },
        });
      }
      throw e;
    }
  }
}
