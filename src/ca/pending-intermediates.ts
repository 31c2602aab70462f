/**
 * Intermediate CA keys generated on this node and waiting for their
 * certificate (`rampart ca request` → signed elsewhere → `rampart ca import`).
 * Kept as one JSON list in the node's meta table (no schema change); the key
 * itself is in the key backend like every CA key.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { KeyAlgorithm, KeyBackend } from '../keys/key-backend.js';
import { parseDn } from '../pki/names.js';
import type { MetaStore } from '../storage/store.js';
import { buildCaCsr } from './ca-csr.js';

const META_KEY = 'ca.pendingIntermediates';

export interface PendingIntermediate {
  keyRef: string;
  keyBackend: string;
  algorithm: KeyAlgorithm;
  subject: string;
  /** DER SubjectPublicKeyInfo, base64. */
  spki: string;
  /** SHA-256 of the SPKI, hex: how operators match a CSR, a bundle and this entry. */
  spkiSha256: string;
  csrPem: string;
  createdAt: string;
}

export async function listPendingIntermediates(store: MetaStore): Promise<PendingIntermediate[]> {
  const raw = await store.getMeta(META_KEY);
  return raw ? (JSON.parse(raw) as PendingIntermediate[]) : [];
}

async function save(store: MetaStore, list: PendingIntermediate[]): Promise<void> {
  await store.setMeta(META_KEY, JSON.stringify(list));
}

export async function removePendingIntermediate(store: MetaStore, keyRef: string): Promise<void> {
  const list = await listPendingIntermediates(store);
  await save(store, list.filter((p) => p.keyRef !== keyRef));
}

export function findPendingForSpki(list: PendingIntermediate[], spki: Uint8Array): PendingIntermediate | undefined {
  const b64 = Buffer.from(spki).toString('base64');
  return list.find((p) => p.spki === b64);
}

export interface RequestIntermediateOptions {
  keys: KeyBackend;
  store: MetaStore;
  clock: Clock;
  subject: string;
  algorithm: KeyAlgorithm;
}

/** Generates the key in the node's key backend, builds its CSR and records the request. */
export async function requestIntermediate(o: RequestIntermediateOptions): Promise<PendingIntermediate> {
  const name = parseDn(o.subject);
  const signer = await o.keys.generate('intermediate', o.algorithm);
  const csrPem = await buildCaCsr(signer, name);
  const p: PendingIntermediate = {
    keyRef: signer.keyRef, keyBackend: o.keys.type, algorithm: signer.algorithm, subject: o.subject,
    spki: Buffer.from(signer.spki).toString('base64'), spkiSha256: createHash('sha256').update(signer.spki).digest('hex'),
    csrPem, createdAt: o.clock.now().toISOString(),
  };
  await save(o.store, [...await listPendingIntermediates(o.store), p]);
  return p;
}
