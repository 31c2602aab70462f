/**
 * The parts of a backup besides the database: the configuration (no secrets),
 * CA certificates (PEM), the latest CRL of each issuer (DER), the audit log
 * (JSON lines up to the snapshot's last entry, then a head line), and for a
 * single SQLite node with software keys the sealed key files of <dataDir>/keys
 * (already encrypted with the node key secret, which is NOT in the backup).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RampartConfig } from '../config/schema.js';
import { toPem } from '../pki/certificate-builder.js';
import type { Store } from '../storage/store.js';

const SECRET_KEY_RE = /(password|passphrase|secret|pin|token|privatekey)$/i;

/** The configuration with anything that looks like a secret value replaced (names of env vars stay). */
export function redactConfig(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => redactConfig(x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactConfig(x, k)]));
  if (typeof v === 'string' && SECRET_KEY_RE.test(key)) return '[redacted]';
  return v;
}

/** A small part in memory, or a stream (the audit log, which grows with the CA). */
export type NamedPart = { name: string; data: Buffer } | { name: string; stream: () => AsyncIterable<Uint8Array> };

/** The audit log up to the snapshot's last entry as JSON lines, then the head line, in batches of about 1 MiB. */
async function* auditLines(store: Store, auditSeq: number, auditHead: string): AsyncGenerator<Uint8Array> {
  let batch: string[] = [];
  let batchBytes = 0;
  let entries = 0;
  for await (const e of store.iterateAudit()) {
    if (e.seq > auditSeq) break;
    const line = `${JSON.stringify({ ...e, time: e.time.toISOString() })}\n`;
    batch.push(line);
    batchBytes += line.length;
    entries++;
    if (batchBytes >= 1 << 20) {
      yield Buffer.from(batch.join(''));
      batch = [];
      batchBytes = 0;
    }
  }
  batch.push(`${JSON.stringify({ head: auditHead, entries })}\n`);
  yield Buffer.from(batch.join(''));
}

export async function collectParts(o: { config: RampartConfig; store: Store; auditSeq: number; auditHead: string; keysDir: string | null }): Promise<NamedPart[]> {
  const parts: NamedPart[] = [];
  parts.push({ name: 'config.json', data: Buffer.from(JSON.stringify(redactConfig(o.config), null, 2)) });

  const issuers = (await o.store.listIssuers()).filter((i) => i.kind !== 'ocsp-signer');
  parts.push({
    name: 'ca-certificates.pem',
    data: Buffer.from(issuers.map((i) => `# ${i.kind} ${i.id}${i.active ? ' (active)' : ''}: ${i.subject}\n${toPem(i.certDer)}`).join('')),
  });
  for (const i of issuers) {
    const crl = await o.store.latestCrl(i.id);
    if (crl) parts.push({ name: `crl/${i.id}.crl`, data: Buffer.from(crl.der) });
  }

  parts.push({ name: 'audit.jsonl', stream: () => auditLines(o.store, o.auditSeq, o.auditHead) });

  if (o.keysDir && existsSync(o.keysDir)) {
    const files: Record<string, string> = {};
    for (const n of readdirSync(o.keysDir).sort()) {
      const p = join(o.keysDir, n);
      if (statSync(p).isFile()) files[n] = readFileSync(p).toString('base64');
    }
    parts.push({ name: 'keys.json', data: Buffer.from(JSON.stringify({ sealedKeyFiles: files })) });
  }
  return parts;
}
