/**
 * The SSH CA creation ceremony (issue 21): the way an HSM key ceremony makes
 * a key that must exist in several tokens and in custodians' hands, for
 * tokens that cannot wrap it out later (SoftHSM2 2.6 wraps no Ed25519 key).
 * The key pair is made in this process's memory (node:crypto); its k-of-n
 * Shamir backup is made FIRST, in the format of `rampart key backup`
 * (createKeyBackup with this key as its source: backup file saved, every
 * share handed out, sealed with custodian passphrases when asked); then the
 * private key is imported into the key backend (every token of a PKCS#11
 * pool, C_CreateObject / C_UnwrapKey, CKA_SENSITIVE, CKA_EXTRACTABLE per
 * keys.pkcs11.extractable), a test signature from each token is verified,
 * and only then is the CA recorded. The clear key is never written anywhere;
 * its PKCS#8 bytes are zeroed at the end (the KeyObject node:crypto made
 * cannot be wiped: it lives until garbage collection in this short-lived
 * CLI process). Every step is in the audit log through the ceremony journal.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { Actor } from '../../core/actor.js';
import { RampartError } from '../../core/errors.js';
import { signHash, signingKey, type KeyAlgorithm, type Signer } from '../../core/signing.js';
import { wrapKey } from '../../keys/custody/aes-key-wrap.js';
import type { CeremonyJournal } from '../../keys/custody/ceremony-journal.js';
import { createKeyBackup, type BackupSink, type KeyBackupRequest, type KeyBackupResult } from '../../keys/custody/key-backup.js';
import { isKeyPlacement, isKeyWrapper } from '../../keys/key-backend.js';
import { sshBlobFromSpki } from '../../pki/ssh/ssh-keys.js';
import type { SshCaRecord, SshCertKind } from '../../storage/ssh-records.js';
import type { SshAuthority } from './ssh-authority.js';
import { sshKeyOwner } from './ssh-custody.js';

export interface SshCaCeremonyRequest {
  name: string;
  type: SshCertKind;
  algorithm: KeyAlgorithm;
  actor: Actor;
  /** The backup part: threshold, custodians, passphrases, node, createdBy, clock (issuer and keys are filled in here). */
  backup: Omit<KeyBackupRequest, 'issuer' | 'keys'>;
}

export interface SshCaCeremonyResult {
  ca: SshCaRecord;
  backup: KeyBackupResult;
  /** Where a test signature by the imported key verified (the tokens of a pool; the backend's type otherwise). */
  provenIn: string[];
}

function keyPair(algorithm: KeyAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  if (algorithm === 'ed25519') return generateKeyPairSync('ed25519');
  if (algorithm === 'ecdsa-p256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  throw new RampartError('malformed', `the creation ceremony makes ed25519 or ecdsa-p256 SSH CA keys, not ${algorithm}`);
}

export async function createSshCaInCeremony(authority: SshAuthority, r: SshCaCeremonyRequest, sink: BackupSink, journal: CeremonyJournal): Promise<SshCaCeremonyResult> {
  await authority.checkNewCa(r.name, r.algorithm);
  const keys = authority.keys;
  if (!isKeyWrapper(keys)) throw new RampartError('conflict', `the ${keys.type} key backend cannot import keys: no creation ceremony with it`);
  const placement = isKeyPlacement(keys) ? keys : null;
  const down = placement?.places().filter((p) => !p.up) ?? [];
  if (down.length) {
    throw new RampartError('unavailable', `${down.map((p) => p.name).join(', ')} out of the pool: the key would not reach every token; bring it back first (\`rampart health\`)`);
  }

  const pair = keyPair(r.algorithm);
  const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = new Uint8Array(pair.publicKey.export({ type: 'spki', format: 'der' }));
  const owner = sshKeyOwner({
    name: r.name, type: r.type, algorithm: r.algorithm, publicKey: sshBlobFromSpki(spki), createdAt: r.backup.clock.now(), keyBackend: keys.type,
    keyRef: placement?.keyRefForSpki(spki) ?? `(made in the creation ceremony, imported into the ${keys.type} backend after the backup)`,
  });
  journal.fact('Ceremony', `SSH ${r.type} CA ${r.name} created: ${r.algorithm} key made in memory, shares first, then imported into ${placement ? `every token (${placement.places().map((p) => p.name).join(', ')})` : `the ${keys.type} backend`}`);
  let signer: Signer | undefined;
  let provenIn: string[] = [];
  try {
    const backup = await createKeyBackup({ ...r.backup, issuer: owner, keys }, sink, journal, {
      wrap: async (kek) => ({ algorithm: r.algorithm, spki, wrapped: wrapKey(kek, pkcs8) }),
      afterShares: async (kek, wrapped) => {
        try {
          signer = await keys.importWrapped(`ssh-${r.type}-ca-${r.name}`, r.algorithm, wrapped, kek);
          if (!Buffer.from(signer.spki).equals(Buffer.from(spki))) throw new Error(`the ${keys.type} backend imported a key with another public key`);
          provenIn = await proveEverywhere(signer, spki, placement ? (data) => placement.signInEveryPlace(signer!.keyRef, data) : null, keys.type);
          const missing = placement?.places().filter((p) => !provenIn.includes(p.name)) ?? [];
          if (missing.length) throw new Error(`the key did not reach ${missing.map((p) => p.name).join(', ')}`);
        } catch (e) {
          await journal.step('ssh.ca.ceremony.import', 'failure', `import into the ${keys.type} backend failed: ${(e as Error).message}`, { ca: r.name, backend: keys.type });
          throw e;
        }
        await journal.step('ssh.ca.ceremony.import', 'success', `key imported into the ${keys.type} backend as ${signer.keyRef}; test signature verified from ${provenIn.join(', ')}`, {
          ca: r.name, keyRef: signer.keyRef, backend: keys.type, provenIn,
        });
      },
    });
    const ca = await authority.recordCa(r.name, r.type, signer!, r.actor, { ceremony: true, backupId: backup.artifact.backupId, provenIn });
    await journal.step('ssh.ca.ceremony', 'success', `SSH ${r.type} CA ${r.name} recorded; backup ${backup.artifact.backupId}`, { ca: r.name, backupId: backup.artifact.backupId });
    return { ca, backup, provenIn };
  } finally {
    pkcs8.fill(0);
  }
}

/** Test signatures by the imported key: from each token (signInEveryPlace checks them too), else from the backend once. */
async function proveEverywhere(signer: Signer, spki: Uint8Array, each: ((data: Uint8Array) => Promise<Array<{ place: string; signature: Uint8Array }>>) | null, backend: string): Promise<string[]> {
  const data = Buffer.concat([Buffer.from('rampart SSH CA creation ceremony test signature:'), randomBytes(32)]);
  const sigs = each ? await each(data) : [{ place: backend, signature: await signer.sign(data) }];
  const pub = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  for (const s of sigs) {
    if (!verify(signHash(signer.algorithm), data, signingKey(signer.algorithm, pub), s.signature)) throw new Error(`the test signature from ${s.place} does not verify`);
  }
  return sigs.map((s) => s.place);
}
