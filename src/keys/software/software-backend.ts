/**
 * Software KeyBackend: keys are generated with node:crypto, stored as sealed
 * PKCS#8 (see key-encryption.ts) in one JSON file per key, and decrypted into
 * memory only. Private key bytes never reach the disk in clear. For backups
 * (src/keys/custody/) a key leaves only wrapped under a one-time key (KeyWrapper).
 */
import { generateKeyObject } from '../../core/signing.js';
import { createPrivateKey, createPublicKey, randomUUID, sign as cryptoSign, KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { isKeyAlgorithm, signHash, signingKey, type KeyAlgorithm, type KeyBackend, type KeyBackendHealth, type KeyImporter, type KeyWrapper, type Signer } from '../key-backend.js';
import { KeyUnwrapError, unwrapKey, wrapKey } from '../custody/aes-key-wrap.js';
import { seal, unseal, type SealedBlob } from './key-encryption.js';

interface KeyFile {
  ref: string;
  label: string;
  algorithm: KeyAlgorithm;
  spki: string;
  sealed: SealedBlob;
  createdAt: string;
}

/** Where sealed key files live: a directory (one node) or the shared database (a cluster). */
export interface SealedKeyStore {
  get(ref: string): Promise<string | null>;
  put(ref: string, json: string): Promise<void>;
  describe(): string;
}

export class DirectoryKeyStore implements SealedKeyStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  private path(ref: string): string { return join(this.dir, `${ref}.key.json`); }
  async get(ref: string): Promise<string | null> {
    const p = this.path(ref);
    return existsSync(p) ? readFileSync(p, 'utf8') : null;
  }
  async put(ref: string, json: string): Promise<void> {
    const p = this.path(ref);
    writeFileSync(`${p}.tmp`, json, { mode: 0o600 });
    renameSync(`${p}.tmp`, p);
  }
  describe(): string {
    statfsSync(this.dir);
    return this.dir;
  }
}

export interface SoftwareKeyBackendOptions {
  /** A directory for sealed key files (shorthand for a DirectoryKeyStore). */
  dir?: string;
  /** Or any sealed-key store, e.g. the cluster database. */
  blobs?: SealedKeyStore;
  /** Passphrase or key-file contents; the scrypt input. */
  secret: Uint8Array;
}

export { generateKeyObject };

/** The KeyAlgorithm of a private key object, or null when it is none of ours. */
export function algorithmOf(key: KeyObject): KeyAlgorithm | null {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') return d?.namedCurve === 'prime256v1' ? 'ecdsa-p256' : d?.namedCurve === 'secp384r1' ? 'ecdsa-p384' : null;
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'rsa') {
    const a = `rsa-${d?.modulusLength ?? 0}`;
    return isKeyAlgorithm(a) ? a : null;
  }
  return null;
}

/** Inputs above this size are signed asynchronously (a small one is faster signed in place, unless the caller asks for the background: OCSP answers, bulk loads). */
const ASYNC_SIGN_FROM = 64 * 1024;

export class SoftwareSigner implements Signer {
  readonly spki: Uint8Array;
  constructor(readonly keyRef: string, readonly algorithm: KeyAlgorithm, private readonly key: KeyObject) {
    this.spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  }
  async sign(data: Uint8Array, o?: { background?: boolean }): Promise<Uint8Array> {
    const key = signingKey(this.algorithm, this.key);
    if (data.byteLength <= ASYNC_SIGN_FROM && !o?.background) return new Uint8Array(cryptoSign(signHash(this.algorithm), data, key));
    // A large input (a CRL's TBSCertList) or bulk work: hashed and signed on libuv's thread pool, not on the thread that answers OCSP.
    return new Promise((resolve, reject) => {
      cryptoSign(signHash(this.algorithm), data, key, (err, sig) => (err ? reject(err) : resolve(new Uint8Array(sig))));
    });
  }
}

export class SoftwareKeyBackend implements KeyBackend, KeyImporter, KeyWrapper {
  readonly type = 'software';
  private readonly cache = new Map<string, SoftwareSigner>();
  private readonly blobs: SealedKeyStore;
  constructor(private readonly opts: SoftwareKeyBackendOptions) {
    const blobs = opts.blobs ?? (opts.dir ? new DirectoryKeyStore(opts.dir) : undefined);
    if (!blobs) throw new Error('SoftwareKeyBackend needs a dir or a sealed-key store');
    this.blobs = blobs;
  }

  private check(ref: string): string {
    if (!/^[a-zA-Z0-9._-]+$/.test(ref)) throw new Error(`invalid key reference: ${ref}`);
    return ref;
  }

  async generate(label: string, algorithm: KeyAlgorithm): Promise<Signer> {
    return this.store(label, algorithm, generateKeyObject(algorithm));
  }

  async importPkcs8(label: string, algorithm: KeyAlgorithm, pkcs8: Uint8Array): Promise<Signer> {
    return this.store(label, algorithm, createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }));
  }

  /** RFC 5649 AES-256 key wrap (with padding) of the key's PKCS#8 under `kek`. */
  async exportWrapped(keyRef: string, kek: Uint8Array): Promise<{ algorithm: KeyAlgorithm; spki: Uint8Array; wrapped: Uint8Array }> {
    const { file, pkcs8 } = await this.readSealed(keyRef);
    try {
      return { algorithm: file.algorithm, spki: new Uint8Array(Buffer.from(file.spki, 'base64')), wrapped: wrapKey(kek, pkcs8) };
    } finally {
      pkcs8.fill(0);
    }
  }

  /** Unwraps a PKCS#8 wrapped by exportWrapped (or by an HSM's C_WrapKey) and stores it sealed, like importPkcs8. */
  async importWrapped(label: string, algorithm: KeyAlgorithm, wrapped: Uint8Array, kek: Uint8Array): Promise<Signer> {
    let pkcs8: Buffer;
    try {
      pkcs8 = unwrapKey(kek, wrapped);
    } catch (e) {
      if (e instanceof KeyUnwrapError) throw new Error(`cannot import wrapped key "${label}": ${e.message}`);
      throw e;
    }
    try {
      let key: KeyObject;
      try {
        key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      } catch {
        throw new Error(`cannot import wrapped key "${label}": the unwrapped bytes are not a PKCS#8 private key`);
      }
      if (algorithmOf(key) !== algorithm) throw new Error(`cannot import wrapped key "${label}": it is ${algorithmOf(key) ?? 'an unsupported key'}, not ${algorithm}`);
      return await this.store(label, algorithm, key);
    } finally {
      pkcs8.fill(0);
    }
  }

  private async readSealed(keyRef: string): Promise<{ file: KeyFile; pkcs8: Buffer }> {
    const text = await this.blobs.get(this.check(keyRef));
    if (text === null) throw new Error(`key not found: ${keyRef}`);
    const file = JSON.parse(text) as KeyFile;
    if (!isKeyAlgorithm(file.algorithm)) throw new Error(`key ${keyRef}: unknown algorithm ${String(file.algorithm)}`);
    return { file, pkcs8: await unseal(this.opts.secret, file.sealed, keyRef) };
  }

  private async store(label: string, algorithm: KeyAlgorithm, key: KeyObject): Promise<Signer> {
    const ref = `${label.replace(/[^a-zA-Z0-9._-]/g, '-')}-${randomUUID().slice(0, 8)}`;
    const signer = new SoftwareSigner(ref, algorithm, key);
    const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
    const file: KeyFile = {
      ref, label, algorithm,
      spki: Buffer.from(signer.spki).toString('base64'),
      sealed: await seal(this.opts.secret, pkcs8, ref),
      createdAt: new Date().toISOString(),
    };
    pkcs8.fill(0);
    await this.blobs.put(this.check(ref), JSON.stringify(file, null, 2));
    this.cache.set(ref, signer);
    return signer;
  }

  async open(keyRef: string): Promise<Signer> {
    const cached = this.cache.get(keyRef);
    if (cached) return cached;
    const { file, pkcs8 } = await this.readSealed(keyRef);
    const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    pkcs8.fill(0);
    const signer = new SoftwareSigner(keyRef, file.algorithm, key);
    if (Buffer.compare(Buffer.from(signer.spki), Buffer.from(file.spki, 'base64')) !== 0) {
      throw new Error(`key ${keyRef}: public key does not match the stored one`);
    }
    this.cache.set(keyRef, signer);
    return signer;
  }

  async has(keyRef: string): Promise<boolean> {
    return (await this.blobs.get(this.check(keyRef))) !== null;
  }

  async health(): Promise<KeyBackendHealth> {
    try {
      this.blobs.describe();
      for (const s of this.cache.values()) await s.sign(new Uint8Array([1]));
      return { ok: true, detail: `${this.cache.size} key(s) loaded` };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }
}
