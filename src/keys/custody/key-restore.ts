/**
 * Restoring a CA key from a k-of-n backup: combine the collected shares into
 * the key-encryption key, unwrap the PKCS#8 (RFC 5649's integrity check is
 * what tells "these shares do not reconstruct the key", since Shamir
 * combining never fails by itself), prove the key belongs to the CA
 * certificate (same SPKI, a test signature that verifies), import it into
 * the node's backend through KeyWrapper.importWrapped (a software key, or a
 * key unwrapped inside the configured PKCS#11 token), prove the imported key
 * again, and point the issuer at it.
 */
import { isKeyWrapper, type KeyBackend } from '../key-backend.js';
import { KeyUnwrapError, unwrapKey } from './aes-key-wrap.js';
import type { KeyBackupArtifact } from './backup-artifact.js';
import type { CeremonyJournal } from './ceremony-journal.js';
import type { KeyOwner, KeyOwnerStore } from './key-owner.js';
import { CustodyError } from './custody-error.js';
import { sha256Colon } from './fingerprints.js';
import { combineShares } from './kek-sharing.js';
import { proveKeyMatchesCertificate, proveSignerMatchesCertificate, type KeyProof } from './key-verification.js';
import type { ShareCollection } from './share-collection.js';

export interface RestoreTarget {
  keys: KeyBackend;
  /** The IssuerStore for X.509 CAs; SSH CAs through src/ca/ssh/ssh-custody.ts. */
  store: KeyOwnerStore;
}

export interface RestoreOptions {
  /** Reconstruct and verify only (a custody drill): nothing is imported or changed. */
  verifyOnly?: boolean;
  /** Import even though the issuer's current key is present (e.g. to move it to another backend). */
  replace?: boolean;
}

export interface RestoreResult {
  issuerId: string;
  verifyOnly: boolean;
  proof: KeyProof;
  previousKeyRef: string;
  keyRef: string | null;
  backend: string | null;
  shares: Array<{ index: number; custodian: string; checksum: string }>;
}

/**
 * Checks, before custodians are asked for anything, that this node can take
 * the restored key: it knows the issuer, with the same certificate, the
 * backend can import wrapped keys, and the issuer's key is really missing.
 */
export async function checkRestoreTarget(a: KeyBackupArtifact, t: RestoreTarget, o: RestoreOptions = {}): Promise<KeyOwner> {
  const issuer = await t.store.getIssuer(a.issuer.id);
  if (!issuer) {
    throw new CustodyError('target', `this node has no issuer ${a.issuer.id} (${a.issuer.subject}): restore the database (or use the node whose CA this is) before restoring its key`);
  }
  if (sha256Colon(issuer.certDer) !== a.issuer.certificateSha256) {
    throw new CustodyError('target', `issuer ${issuer.id} on this node has another certificate (SHA256 ${sha256Colon(issuer.certDer)}) than backup ${a.backupId} was made for (SHA256 ${a.issuer.certificateSha256})`);
  }
  if (o.verifyOnly) return issuer;
  // Issuers whose key is kept off the node (an offline root, src/ca/offline-issuer.ts) must not get it back online this way.
  if (issuer.keyBackend === 'offline') {
    throw new CustodyError('target', `${issuer.kind} CA ${issuer.id} keeps its key offline: restoring it onto this node would put it online (restore it on the offline host; --verify-only drills are fine)`);
  }
  if (!isKeyWrapper(t.keys)) throw new CustodyError('target', `the ${t.keys.type} key backend cannot import wrapped keys`);
  let present = false;
  try {
    present = await t.keys.has(issuer.keyRef);
  } catch { /* unreadable reference: treat as missing */ }
  if (present && !o.replace) {
    throw new CustodyError('target', `the key of ${issuer.id} (${issuer.keyRef}) is present in this node's ${t.keys.type} backend: nothing to restore (use --verify-only for a drill, or --replace to import anyway)`);
  }
  return issuer;
}

export async function restoreKey(a: KeyBackupArtifact, shares: ShareCollection, t: RestoreTarget, journal: CeremonyJournal, o: RestoreOptions = {}): Promise<RestoreResult> {
  const issuer = await checkRestoreTarget(a, t, o);
  const details = { backupId: a.backupId, issuerId: issuer.id };
  const used = shares.presented();
  let kek: Uint8Array | null = null;
  try {
    if (!shares.complete()) {
      const why = shares.rejected().length ? ` (rejected: ${shares.rejected().join('; ')})` : '';
      const err = new CustodyError('insufficient', `need ${shares.need} shares, have ${shares.have}${why}`);
      await journal.step('key.restore.reconstruct', 'failure', err.message, { ...details, need: shares.need, have: shares.have });
      throw err;
    }
    const wrapped = Buffer.from(a.wrap.wrappedKey, 'base64');
    let pkcs8: Buffer;
    try {
      kek = await combineShares(shares.shares());
      pkcs8 = unwrapKey(kek, wrapped);
    } catch (e) {
      const err = e instanceof KeyUnwrapError || e instanceof CustodyError
        ? new CustodyError('reconstruct', `these shares do not reconstruct the key: the AES-KWP integrity check of the wrapped key failed (shares ${used.map((s) => s.index).join(', ')}; wrong shares, or the backup file's wrapped key was altered)`)
        : e as Error;
      await journal.step('key.restore.reconstruct', 'failure', err.message, { ...details, shares: used });
      throw err;
    }
    await journal.step('key.restore.reconstruct', 'success', `key-encryption key reconstructed from shares ${used.map((s) => `${s.index} (${s.custodian})`).join(', ')}; wrapped key unwrapped, integrity check passed`, { ...details, shares: used });

    let proof: KeyProof;
    try {
      proof = proveKeyMatchesCertificate(pkcs8, a.key.algorithm, issuer.certDer);
    } catch (e) {
      await journal.step('key.restore.verify', 'failure', (e as Error).message, details);
      throw e;
    } finally {
      pkcs8.fill(0);
    }
    journal.fact('Key', `${a.key.algorithm}, SPKI SHA256 ${proof.spkiSha256}`);
    await journal.step('key.restore.verify', 'success', `restored key matches the CA certificate (SPKI SHA256 ${proof.spkiSha256}); test signature verified`, {
      ...details, spkiSha256: proof.spkiSha256, certificateSha256: proof.certificateSha256,
    });
    const base = { issuerId: issuer.id, proof, previousKeyRef: issuer.keyRef, shares: used };
    if (o.verifyOnly) {
      await journal.step('key.restore', 'success', 'verify-only drill: the shares reconstruct the key; nothing imported', { ...details, verifyOnly: true });
      return { ...base, verifyOnly: true, keyRef: null, backend: null };
    }

    const keys = t.keys;
    if (!isKeyWrapper(keys)) throw new CustodyError('target', `the ${keys.type} key backend cannot import wrapped keys`);
    try {
      const signer = await keys.importWrapped(issuer.kind.startsWith('ssh-') ? `${issuer.kind}-ca-restored` : issuer.kind === 'root' ? 'root-restored' : 'intermediate-restored', a.key.algorithm, wrapped, kek);
      await proveSignerMatchesCertificate(signer, issuer.certDer);
      if (!(await t.store.setIssuerKey(issuer.id, signer.keyRef, keys.type))) throw new Error(`issuer ${issuer.id} disappeared from the store`);
      await journal.step('key.restore', 'success', `key imported into the ${keys.type} backend as ${signer.keyRef} (was ${issuer.keyRef}); test signature by the imported key verified; issuer now uses it`, {
        ...details, keyRef: signer.keyRef, previousKeyRef: issuer.keyRef, backend: keys.type, spkiSha256: proof.spkiSha256,
      });
      return { ...base, verifyOnly: false, keyRef: signer.keyRef, backend: keys.type };
    } catch (e) {
      await journal.step('key.restore', 'failure', `import into the ${keys.type} backend failed: ${(e as Error).message}`, { ...details, backend: keys.type });
      throw e;
    }
  } finally {
    kek?.fill(0);
    shares.wipe();
  }
}
