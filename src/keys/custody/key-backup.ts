/**
 * Creating a k-of-n backup of a CA key: a fresh random 32-byte key-encryption
 * key (KEK); the backend wraps the private key under it (RFC 5649 AES-KWP of
 * the PKCS#8; the key never leaves the backend in clear); the wrap is proven
 * restorable (unwrapped in memory and checked against the CA certificate);
 * the KEK is split into Shamir shares, one per custodian, optionally sealed
 * with each custodian's passphrase. The backup file is saved first, then the
 * shares are handed out; the KEK and the shares are wiped from memory at the
 * end (the share texts are JavaScript strings, which cannot be wiped: they
 * live until garbage collection, in this short-lived process only).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { isKeyWrapper, type KeyAlgorithm, type KeyBackend } from '../key-backend.js';
import { KEK_BYTES, WRAP_METHOD, unwrapKey } from './aes-key-wrap.js';
import { serializeArtifact, type KeyBackupArtifact } from './backup-artifact.js';
import type { CeremonyJournal } from './ceremony-journal.js';
import type { KeyOwner } from './key-owner.js';
import { CustodyError } from './custody-error.js';
import { sha256Colon } from './fingerprints.js';
import { checkSharing, shareDigest, splitKek } from './kek-sharing.js';
import { proveKeyMatchesCertificate } from './key-verification.js';
import { formatShare, shareChecksum } from './share-format.js';
import { checkPassphrase, sealShare } from './share-sealing.js';

export interface KeyBackupRequest {
  /** An X.509 CA (issuer) or an SSH CA (key-owner.ts). */
  issuer: KeyOwner;
  keys: KeyBackend;
  threshold: number;
  /** One name per share, in share order. */
  custodians: string[];
  /** Seal each share with its custodian's passphrase (required for every custodian when given). */
  passphrases?: Map<string, Uint8Array>;
  node: string;
  createdBy: string;
  clock: Clock;
}

export interface ShareDelivery {
  backupId: string;
  custodian: string;
  index: number;
  count: number;
  sealed: boolean;
  /** The share block (secret unless sealed): hand it to the custodian, keep no copy. */
  text: string;
  checksum: string;
}

/** Where the pieces go: the CLI writes files or prints; tests keep them in memory. */
export interface BackupSink {
  /** Saves the backup file (not secret); returns where it went. */
  saveArtifact(artifact: KeyBackupArtifact, json: string): Promise<string>;
  /** Hands one share to its custodian; returns where it went (a file, "printed"). */
  deliverShare(share: ShareDelivery): Promise<string>;
}

export interface KeyBackupResult {
  artifact: KeyBackupArtifact;
  artifactLocation: string;
  shares: Array<{ custodian: string; index: number; sealed: boolean; checksum: string; location: string }>;
}

const CUSTODIAN_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._@'+-]{0,63}$/u;

export function checkCustodians(names: string[], shares: number): void {
  if (names.length !== shares) {
    throw new CustodyError('invalid-request', `name exactly ${shares} custodians, one per share (got ${names.length})`);
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (!CUSTODIAN_NAME.test(n) || n !== n.trim()) {
      throw new CustodyError('invalid-request', `custodian name "${n}" is not allowed: 1-64 letters, digits, spaces and . _ @ ' + -, starting with a letter or digit`);
    }
    if (seen.has(n.toLowerCase())) throw new CustodyError('invalid-request', `custodian "${n}" is named twice: each share needs its own custodian`);
    seen.add(n.toLowerCase());
  }
}

export function newBackupId(now: Date): string {
  return `kb-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
}

/**
 * Where the wrapped private key comes from: by default the backend that
 * keeps it exports it (exportFromBackend); the SSH CA creation ceremony
 * (src/ca/ssh/ssh-ca-ceremony.ts) wraps a key it made in memory, and imports
 * it into the backend in afterShares, once every share is handed out.
 */
export interface BackupKeySource {
  wrap(kek: Uint8Array): Promise<{ algorithm: KeyAlgorithm; spki: Uint8Array; wrapped: Uint8Array }>;
  /** Runs after the backup file is saved and every share handed out, with the key-encryption key still in memory. */
  afterShares?(kek: Uint8Array, wrapped: Uint8Array): Promise<void>;
}

/** The key of `issuer`, exported wrapped by the backend that keeps it. */
export function exportFromBackend(issuer: KeyOwner, keys: KeyBackend): BackupKeySource {
  return {
    async wrap(kek) {
      if (!isKeyWrapper(keys)) throw new CustodyError('not-exportable', `the ${keys.type} key backend cannot export keys, so it cannot make key backups`);
      if (issuer.keyBackend !== keys.type) {
        throw new CustodyError('target', `the key of ${issuer.id} is kept by the ${issuer.keyBackend} key backend, not by this node's ${keys.type} backend: back it up where it lives`);
      }
      if (!(await keys.has(issuer.keyRef))) {
        throw new CustodyError('target', `the key of ${issuer.id} (${issuer.keyRef}) is not in this node's ${keys.type} key backend: nothing to back up`);
      }
      try {
        return await keys.exportWrapped(issuer.keyRef, kek);
      } catch (e) {
        throw new CustodyError('not-exportable', `the ${keys.type} key backend refused to export the key of ${issuer.id}: ${(e as Error).message}`);
      }
    },
  };
}

export async function createKeyBackup(req: KeyBackupRequest, sink: BackupSink, journal: CeremonyJournal, source?: BackupKeySource): Promise<KeyBackupResult> {
  const { issuer, keys, threshold, custodians } = req;
  const count = custodians.length;
  checkSharing(threshold, count);
  checkCustodians(custodians, count);
  if (issuer.kind === 'ocsp-signer') throw new CustodyError('invalid-request', `${issuer.id} is an OCSP signer, not a CA: its key is re-issued, not backed up`);
  if (req.passphrases) {
    for (const c of custodians) {
      const p = req.passphrases.get(c);
      if (!p) throw new CustodyError('invalid-request', `no passphrase for custodian ${c}: sealed shares need one per custodian`);
      checkPassphrase(c, p);
    }
  }
  const now = req.clock.now();
  const backupId = newBackupId(now);
  const sealed = req.passphrases !== undefined;
  journal.fact('Backup', backupId);
  journal.fact('Issuer', `${issuer.id} (${issuer.kind}) ${issuer.subject}`);
  journal.fact('CA certificate', `SHA256 ${sha256Colon(issuer.certDer)}`);
  journal.fact('Sharing', `${threshold} of ${count} shares${sealed ? ', sealed with custodian passphrases' : ''}`);

  const kek = new Uint8Array(randomBytes(KEK_BYTES));
  let shares: Uint8Array[] = [];
  const delivered: KeyBackupResult['shares'] = [];
  try {
    const exported = await (source ?? exportFromBackend(issuer, keys)).wrap(kek);
    // Prove the wrapped key restores to the CA's key before anyone gets a share.
    const pkcs8 = unwrapKey(kek, exported.wrapped);
    let proof;
    try {
      proof = proveKeyMatchesCertificate(pkcs8, exported.algorithm, issuer.certDer);
    } finally {
      pkcs8.fill(0);
    }
    journal.fact('Key', `${exported.algorithm}, SPKI SHA256 ${proof.spkiSha256}`);

    shares = await splitKek(kek, count, threshold);
    const blocks = shares.map((share, i) => {
      const index = i + 1;
      const custodian = custodians[i]!;
      const data = sealed ? sealShare(req.passphrases!.get(custodian)!, share, backupId, index) : share;
      const text = formatShare({
        backupId, issuerId: issuer.id, subject: issuer.subject, custodian, index, count, threshold, sealed, created: now.toISOString(),
      }, data);
      if (data !== share) data.fill(0);
      return { custodian, index, text, checksum: shareChecksum(text), digest: shareDigest(backupId, index, share) };
    });
    const artifact: KeyBackupArtifact = {
      format: 'rampart-key-backup', version: 1, backupId, createdAt: now.toISOString(), createdBy: req.createdBy, node: req.node,
      issuer: {
        id: issuer.id, kind: issuer.kind, subject: issuer.subject, notAfter: issuer.notAfter.toISOString(),
        certificateSha256: sha256Colon(issuer.certDer), certificate: Buffer.from(issuer.certDer).toString('base64'),
      },
      key: {
        algorithm: exported.algorithm, spki: Buffer.from(exported.spki).toString('base64'), spkiSha256: proof.spkiSha256,
        sourceBackend: keys.type, sourceKeyRef: issuer.keyRef,
      },
      wrap: { method: WRAP_METHOD, wrappedKey: Buffer.from(exported.wrapped).toString('base64') },
      sharing: {
        scheme: 'shamir-gf256', threshold, shares: count,
        custodians: blocks.map((b) => ({ index: b.index, name: b.custodian, sealed, shareDigest: b.digest, shareChecksum: b.checksum })),
      },
    };
    const artifactLocation = await sink.saveArtifact(artifact, serializeArtifact(artifact));
    journal.fact('Backup file', artifactLocation);
    for (const b of blocks) {
      const location = await sink.deliverShare({ backupId, custodian: b.custodian, index: b.index, count, sealed, text: b.text, checksum: b.checksum });
      delivered.push({ custodian: b.custodian, index: b.index, sealed, checksum: b.checksum, location });
      journal.participant(b.custodian);
      await journal.step('key.backup.share', 'success', `share ${b.index} of ${count} to custodian ${b.custodian}${sealed ? ' (sealed)' : ''}, ${b.checksum}, ${location}`, {
        backupId, custodian: b.custodian, index: b.index, count, sealed, checksum: b.checksum, location,
      });
    }
    await source?.afterShares?.(kek, exported.wrapped);
    await journal.step('key.backup', 'success', `backup ${backupId}: ${threshold} of ${count} shares, key ${exported.algorithm} ${proof.spkiSha256}`, {
      backupId, issuerId: issuer.id, subject: issuer.subject, keyRef: issuer.keyRef, backend: keys.type, algorithm: exported.algorithm,
      spkiSha256: proof.spkiSha256, certificateSha256: proof.certificateSha256, wrapMethod: WRAP_METHOD, threshold, shares: count,
      custodians, sealed, artifact: artifactLocation,
    });
    return { artifact, artifactLocation, shares: delivered };
  } catch (e) {
    const handedOut = delivered.length ? ` Shares already handed out (${delivered.map((d) => `${d.index}: ${d.custodian}`).join(', ')}) are useless: have them destroyed.` : '';
    await journal.step('key.backup', 'failure', `backup ${backupId} failed: ${(e as Error).message}${handedOut}`, {
      backupId, issuerId: issuer.id, error: (e as Error).message, sharesHandedOut: delivered.map((d) => d.index),
    });
    if (handedOut && e instanceof Error) e.message += handedOut;
    throw e;
  } finally {
    kek.fill(0);
    for (const s of shares) s.fill(0);
  }
}
