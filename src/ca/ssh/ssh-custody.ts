/**
 * SSH CA keys in key custody (issue 21): an SSH CA as the owner of a key to
 * back up in Shamir k-of-n shares (src/keys/custody), proven against its
 * public key (SPKI) since it has no X.509 certificate; and the restore side,
 * which points the CA at the imported key, or, on a fresh node that has no
 * record of the CA yet (a recovery drill), records the CA from the backup.
 */
import type { Actor } from '../../core/actor.js';
import type { Clock } from '../../core/clock.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { KeyBackupArtifact } from '../../keys/custody/backup-artifact.js';
import type { KeyOwner, KeyOwnerStore } from '../../keys/custody/key-owner.js';
import { sshBlobFromSpki, spkiFromSshBlob } from '../../pki/ssh/ssh-keys.js';
import type { SshCaRecord, SshCertKind } from '../../storage/ssh-records.js';
import type { SshStore } from '../../storage/store.js';

const PREFIX = 'ssh:';
/** SSH CA keys do not expire; the backup file still names a date. */
const NO_EXPIRY = new Date('9999-12-31T23:59:59.000Z');

export const isSshOwnerId = (id: string): boolean => id.startsWith(PREFIX);

export function sshKeyOwner(ca: SshCaRecord): KeyOwner {
  return {
    id: `${PREFIX}${ca.name}`, kind: ca.type === 'user' ? 'ssh-user' : 'ssh-host', subject: `SSH ${ca.type} CA ${ca.name}`,
    certDer: spkiFromSshBlob(ca.publicKey), keyRef: ca.keyRef, keyBackend: ca.keyBackend, notAfter: NO_EXPIRY,
  };
}

export interface SshRestoreStoreOptions {
  store: SshStore;
  /** The issuers' store, for X.509 CA ids. */
  issuers: KeyOwnerStore;
  artifact: KeyBackupArtifact;
  audit: AuditLog;
  clock: Clock;
  actor: Actor;
}

/**
 * The KeyOwnerStore a restore uses: X.509 ids go to the issuers; `ssh:<name>`
 * to the SSH CAs. When this node has no such SSH CA, the backup describes
 * it (name, type, public key): restore then records the CA with the
 * imported key, so a fresh node can sign for it again.
 */
export function sshRestoreStore(o: SshRestoreStoreOptions): KeyOwnerStore {
  const a = o.artifact;
  const fromBackup = (id: string): SshCaRecord | null => {
    if (id !== a.issuer.id || (a.issuer.kind !== 'ssh-user' && a.issuer.kind !== 'ssh-host')) return null;
    const spki = new Uint8Array(Buffer.from(a.issuer.certificate, 'base64'));
    return {
      name: id.slice(PREFIX.length), type: a.issuer.kind.slice('ssh-'.length) as SshCertKind, algorithm: a.key.algorithm,
      keyRef: a.key.sourceKeyRef, keyBackend: a.key.sourceBackend, publicKey: sshBlobFromSpki(spki), createdAt: o.clock.now(),
    };
  };
  return {
    async getIssuer(id) {
      if (!isSshOwnerId(id)) return o.issuers.getIssuer(id);
      const ca = (await o.store.getSshCa(id.slice(PREFIX.length))) ?? fromBackup(id);
      return ca ? sshKeyOwner(ca) : null;
    },
    async setIssuerKey(id, keyRef, keyBackend) {
      if (!isSshOwnerId(id)) return o.issuers.setIssuerKey(id, keyRef, keyBackend);
      const name = id.slice(PREFIX.length);
      if (await o.store.getSshCa(name)) return o.store.setSshCaKey(name, keyRef, keyBackend);
      const ca = fromBackup(id);
      if (!ca) return false;
      await o.store.insertSshCa({ ...ca, keyRef, keyBackend }, o.audit.builder({
        actor: o.actor.id, source: o.actor.source, channel: o.actor.channel, action: 'ssh.ca.restore', target: `ssh-ca:${name}`, outcome: 'success',
        details: { backupId: a.backupId, type: ca.type, algorithm: ca.algorithm, keyRef, backend: keyBackend },
      }));
      return true;
    },
  };
}
