/**
 * Reference ceilings for issuance, measured in-process in the same run:
 * raw P-256 signatures per second (node:crypto) and durable SQLite inserts
 * per second (SqliteStore.insertCertificate: WAL, synchronous=FULL, one row
 * per transaction, on the same filesystem as the node's data directory).
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { join } from 'node:path';
import { serialHex, randomSerial } from '../src/core/serial.js';
import type { CertificateRecord, IssuerRecord } from '../src/core/types.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { removeDir, tempDir } from '../test/helpers/node-process.js';
import { round } from './bench-util.js';

export interface Rate {
  perSecond: number;
  count: number;
  seconds: number;
  meanMs: number;
}

function rate(count: number, ms: number): Rate {
  return { perSecond: round((count / ms) * 1000, 1), count, seconds: round(ms / 1000), meanMs: round(ms / count, 4) };
}

/** P-256 ECDSA (SHA-256, DER signature) over `dataBytes` random bytes, bounded by time and count. */
export function p256SignRate(seconds: number, maxCount: number, dataBytes: number): Rate {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = randomBytes(dataBytes);
  for (let i = 0; i < 200; i++) sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }); // warm-up
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let n = 0;
  while (n < maxCount) {
    sign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
    n++;
    if ((n & 63) === 0 && performance.now() >= deadline) break;
  }
  return rate(n, performance.now() - t0);
}

/** Durable single-row inserts through the real store, bounded by time and count. */
export async function sqliteInsertRate(seconds: number, maxCount: number, certDer: Uint8Array): Promise<Rate> {
  const dir = tempDir('rampart-bench-sqlite-');
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  try {
    await store.migrate();
    const now = new Date();
    const issuer: IssuerRecord = {
      id: 'int-bench', kind: 'intermediate', subject: 'CN=Bench Issuing CA', parentId: null, certDer: certDer, keyRef: 'none',
      keyBackend: 'software', notBefore: now, notAfter: new Date(now.getTime() + 86_400_000), active: true, createdAt: now,
    };
    await store.saveIssuer(issuer);
    const record = (): CertificateRecord => ({
      serial: serialHex(randomSerial()), issuerId: issuer.id, profile: 'server', subject: 'CN=bench.example.test',
      sans: ['bench.example.test'], notBefore: now, notAfter: new Date(now.getTime() + 86_400_000), der: certDer,
      status: 'good', revokedAt: null, revocationReason: null, createdAt: new Date(), requester: 'bench',
    });
    for (let i = 0; i < 20; i++) await store.insertCertificate(record()); // warm-up
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    let n = 0;
    while (n < maxCount && performance.now() < deadline) {
      await store.insertCertificate(record());
      n++;
    }
    return rate(n, performance.now() - t0);
  } finally {
    await store.close();
    removeDir(dir);
  }
}
