/**
 * Sealed software keys kept in the shared database, so every node of a
 * cluster can open the CA keys. The blobs are AES-256-GCM sealed (see
 * key-encryption.ts); every node needs the same key-encryption secret
 * (RAMPART_KEY_PASSPHRASE or the same key file), never stored in the database.
 */
import type { MetaStore } from '../../storage/store.js';
import type { SealedKeyStore } from './software-backend.js';

const PREFIX = 'sealed-key:';

export class DatabaseKeyStore implements SealedKeyStore {
  constructor(private readonly meta: MetaStore) {}
  get(ref: string): Promise<string | null> { return this.meta.getMeta(PREFIX + ref); }
  put(ref: string, json: string): Promise<void> { return this.meta.setMeta(PREFIX + ref, json); }
  describe(): string { return 'database'; }
}
