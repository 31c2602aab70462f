/**
 * CRL generation for 100,000 revoked entries, run in its own process by
 * bench/run.ts (`node --expose-gc --import tsx bench/crl-bench.ts [count] [runs] [shards]`):
 *
 * 1. a temporary SqliteStore and a P-256 hierarchy made by createHierarchy;
 * 2. `count` revoked certificate rows inserted in one transaction with
 *    prepared statements on store.db (random 128-bit serials, a real leaf DER,
 *    varied reasons and dates, plus their revocation_events rows), each with
 *    its CRL entry encoded at insertion as RevocationService does at revocation;
 * 3. CrlService.generate, `runs` times (the production path: CRL number, store.iterateRevoked,
 *    buildCrl, signature, saveCrl), timed, with RSS sampled every 2 ms by a
 *    worker thread and the heap sampled every 1,000 entries on the main thread;
 * 4. every shard CRL (`shards`, default 16: rows carry their shard as issued
 *    certificates do), one after the other as after a restart, timed with the
 *    RSS growth, and one shard alone (what a revocation rebuilds); for both,
 *    the longest event-loop stall of the main thread (monitorEventLoopDelay):
 *    what an OCSP request arriving meanwhile would wait at most;
 * 5. checks with openssl: signature verifies and `openssl crl -text` lists
 *    `count` serial numbers.
 *
 * The encoding runs in one PKI pool worker thread, as on a node.
 *
 * Prints one line "CRL_RESULT <json>".
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { crlShardOf } from '../src/core/crl-shard.js';
import { PkiPool } from '../src/pki/pool/pki-pool.js';
import { CertificateAuthority } from '../src/ca/certificate-authority.js';
import { createHierarchy } from '../src/ca/hierarchy.js';
import { caUrls } from '../src/ca/urls.js';
import { systemClock } from '../src/core/clock.js';
import { CaEvents } from '../src/core/events.js';
import { randomSerial, serialHex } from '../src/core/serial.js';
import type { RevokedEntry } from '../src/core/types.js';
import { CrlService } from '../src/validation/crl/crl-service.js';
import { SoftwareKeyBackend } from '../src/keys/software/software-backend.js';
import { toPem } from '../src/pki/certificate-builder.js';
import { encodeRevokedEntry } from '../src/pki/crl-builder.js';
import { parseDn } from '../src/pki/names.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';
import { removeDir, tempDir } from '../test/helpers/node-process.js';

const COUNT = Number(process.argv[2] ?? 100_000);
const RUNS = Number(process.argv[3] ?? 3);
const SHARDS = Number(process.argv[4] ?? 16);
if (!Number.isInteger(SHARDS) || SHARDS < 1 || SHARDS > 1024) throw new Error(`bad shard count ${process.argv[4]}`);
if (!Number.isInteger(COUNT) || COUNT < 1 || COUNT > 10_000_000) throw new Error(`bad entry count ${process.argv[2]}`);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 20) throw new Error(`bad run count ${process.argv[3]}`);
const DAY = 86_400_000;
/** RFC 5280 reason codes a complete CRL may carry (7 is unused, 8 removeFromCRL is delta-only); null = no reason extension. */
const REASONS: Array<number | null> = [null, 0, 1, 2, 3, 4, 5, 6, 9, 10, 1, 4, 4, 5];
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** RSS sampler on its own thread, so it keeps sampling while the main thread is busy. */
function startRssSampler(): { stop: () => Promise<{ peak: number; samples: number }> } {
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads');
    let peak = 0, samples = 0;
    const t = setInterval(() => { const r = process.memoryUsage.rss(); if (r > peak) peak = r; samples++; }, 2);
    parentPort.on('message', () => { clearInterval(t); parentPort.postMessage({ peak, samples }); });
  `, { eval: true });
  return {
    stop: () => new Promise((resolve, reject) => {
      w.once('message', (m: { peak: number; samples: number }) => { void w.terminate(); resolve(m); });
      w.once('error', reject);
      w.postMessage('stop');
    }),
  };
}

async function main(): Promise<void> {
  const dir = tempDir('rampart-bench-crl-');
  const store = new SqliteStore({ path: join(dir, 'rampart.db') });
  try {
    await store.migrate();
    const keys = new SoftwareKeyBackend({ dir: join(dir, 'keys'), secret: Buffer.from('bench-only secret') });
    const urls = caUrls('http://127.0.0.1:8080');
    const clock = systemClock;
    const { intermediate } = await createHierarchy({
      spec: { root: { subject: 'CN=Bench Root CA, O=Rampart', algorithm: 'ecdsa-p256', validityDays: 3650 },
        intermediate: { subject: 'CN=Bench Issuing CA, O=Rampart', algorithm: 'ecdsa-p256', validityDays: 1825 } },
      keys, store, clock, urls,
    });
    const ca = new CertificateAuthority({ store, keys, clock, urls });
    await ca.load();

    // One real leaf, used as the DER blob of every row (realistic row size).
    const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const now = Date.now();
    const leaf = await ca.signLeaf({
      subjectName: parseDn('CN=revoked.example.test'), spki: new Uint8Array(leafKey), san: { dns: ['revoked.example.test'] },
      keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.1'], notBefore: new Date(now - 60_000), notAfter: new Date(now + 90 * DAY), policies: ['2.23.140.1.2.1'],
    });
    const leafDer = Buffer.from(leaf.der);

    const tIns = performance.now();
    const insCert = store.db.prepare(`INSERT INTO certificates (serial, issuer_id, profile, subject, sans, search, not_before, not_after, der, status, revoked_at, revocation_reason, crl_entry, created_at, requester, crl_shard)
      VALUES (?, ?, 'server', ?, ?, ?, ?, ?, ?, 'revoked', ?, ?, ?, ?, 'bench', ?)`);
    const insEvent = store.db.prepare('INSERT INTO revocation_events (serial, issuer_id, at) VALUES (?, ?, ?)');
    store.db.transaction(() => {
      for (let i = 0; i < COUNT; i++) {
        const serial = serialHex(randomSerial());
        const host = `host-${i}.example.test`;
        const created = now - randomInt(1, 300) * DAY;
        const revokedAt = created + randomInt(1, 1_000_000) * 1000;
        const reason = REASONS[i % REASONS.length]!;
        // As RevocationService does: the CRL entry is encoded once, when the certificate is revoked.
        const entry = Buffer.from(encodeRevokedEntry({ serialHex: serial, revokedAt: new Date(revokedAt), reason }));
        insCert.run(serial, intermediate.id, `CN=${host}`, JSON.stringify([host]), `cn=${host}\n${host}`, created, now + randomInt(1, 365) * DAY,
          leafDer, revokedAt, reason, entry, created, crlShardOf(serial, SHARDS));
        insEvent.run(serial, intermediate.id, revokedAt);
      }
    }).immediate();
    const insertMs = performance.now() - tIns;
    const { revoked } = await store.countCertificates();
    if (revoked !== COUNT) throw new Error(`expected ${COUNT} revoked rows, found ${revoked}`);

    // Heap sampled every 1,000 entries by a pass-through iterator (no extra generator layer).
    let peakHeap = 0;
    let heapSamples = 0;
    const sampleHeap = (): void => { const h = process.memoryUsage().heapUsed; if (h > peakHeap) peakHeap = h; heapSamples++; };
    const sampledStore = Object.create(store) as SqliteStore;
    sampledStore.iterateRevoked = (issuerId: string, at: Date, shard?: number): AsyncIterable<RevokedEntry> => {
      const it = store.iterateRevoked(issuerId, at, shard)[Symbol.asyncIterator]();
      let n = 0;
      const wrapped: AsyncIterableIterator<RevokedEntry> = {
        [Symbol.asyncIterator]: () => wrapped,
        next: () => { if (++n % 1000 === 0) sampleHeap(); return it.next(); },
        return: (v?: unknown) => (it.return ? it.return(v) : Promise.resolve({ done: true as const, value: undefined })),
      };
      return wrapped;
    };
    const pool = new PkiPool(1);
    const crl = new CrlService({ ca, store: sampledStore, clock, events: new CaEvents(), urls, validityHours: 24, regenerateEveryMinutes: 60, shards: SHARDS, pool });
    const loop = monitorEventLoopDelay({ resolution: 1 });
    /** One measured step: time, RSS growth over the baseline after GC, the main thread's longest stall. */
    const measure = async <T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; rssGrowth: number; maxLoopDelayMs: number }> => {
      gc();
      const base = process.memoryUsage.rss();
      const sampler = startRssSampler();
      await new Promise((r) => setTimeout(r, 20));
      loop.reset();
      loop.enable();
      const t0 = performance.now();
      const value = await fn();
      const ms = performance.now() - t0;
      loop.disable();
      const rss = await sampler.stop();
      return { value, ms, rssGrowth: Math.max(rss.peak, process.memoryUsage.rss()) - base, maxLoopDelayMs: loop.max / 1e6 };
    };

    // Several generations in the same process: the first one runs cold (JIT), the later ones warm.
    const runs: Array<{ generateMs: number; crlNumber: string; baselineRss: number; peakRss: number; rssGrowth: number; rssSamples: number;
      baselineHeapUsed: number; peakHeapUsed: number; heapGrowth: number; heapSamples: number }> = [];
    let rec: Awaited<ReturnType<CrlService['generate']>> | undefined;
    const completeMaxLoopDelayMs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      rec = undefined;
      gc();
      const base = process.memoryUsage();
      peakHeap = base.heapUsed;
      heapSamples = 0;
      const sampler = startRssSampler();
      await new Promise((r) => setTimeout(r, 20));
      loop.reset();
      loop.enable();
      const t0 = performance.now();
      rec = await crl.generate(intermediate.id);
      const generateMs = performance.now() - t0;
      loop.disable();
      completeMaxLoopDelayMs.push(loop.max / 1e6);
      sampleHeap();
      const rss = await sampler.stop();
      const peakRss = Math.max(rss.peak, process.memoryUsage().rss);
      runs.push({ generateMs, crlNumber: rec.number.toString(), baselineRss: base.rss, peakRss, rssGrowth: peakRss - base.rss, rssSamples: rss.samples,
        baselineHeapUsed: base.heapUsed, peakHeapUsed: peakHeap, heapGrowth: peakHeap - base.heapUsed, heapSamples });
    }
    if (!rec) throw new Error('no CRL generated');

    // Every shard, one after the other (as after a restart), then one shard alone (as after a revocation).
    const all = await measure(() => crl.generateShards(intermediate.id));
    const one = await measure(() => crl.generate(intermediate.id, 0));
    const shardEntries = all.value.reduce((n, c) => n + c.entries, 0);
    if (shardEntries !== COUNT) throw new Error(`the shards list ${shardEntries} entries, expected ${COUNT}`);
    const shards = {
      shards: SHARDS, allShardsMs: all.ms, allShardsRssGrowth: all.rssGrowth, allShardsMaxLoopDelayMs: all.maxLoopDelayMs,
      oneShardMs: one.ms, oneShardEntries: one.value.entries, oneShardBytes: one.value.der.length, oneShardMaxLoopDelayMs: one.maxLoopDelayMs,
      completeMaxLoopDelayMs: Math.max(...completeMaxLoopDelayMs),
    };
    await pool.close();

    // Reference (after the measurement): only reading the revoked rows through the same iterator.
    const tRead = performance.now();
    let readCount = 0;
    for await (const _e of store.iterateRevoked(intermediate.id, new Date())) readCount++;
    const readMs = performance.now() - tRead;

    // openssl checks.
    const crlPath = join(dir, 'crl.der');
    const intPath = join(dir, 'int.pem');
    writeFileSync(crlPath, rec.der);
    writeFileSync(intPath, toPem(intermediate.certDer));
    const v = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-CAfile', intPath, '-noout'], { encoding: 'utf8', timeout: 120_000 });
    const verify = `${v.stdout ?? ''}${v.stderr ?? ''}`.trim();
    const grep = execFileSync('sh', ['-c', 'openssl crl -inform DER -in "$1" -noout -text | grep -c "Serial Number"', 'sh', crlPath], { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 20 });
    const opensslSerials = Number(grep.trim());

    const result = {
      entries: COUNT, crlEntries: rec.entries, crlNumber: rec.number.toString(), crlBytes: rec.der.length,
      insertMs, readOnlyMs: readMs, readOnlyCount: readCount, runs, shards,
      openssl: { signatureVerifies: v.status === 0 && /verify OK/i.test(verify), verifyOutput: verify, serialNumberLines: opensslSerials },
    };
    console.log(`CRL_RESULT ${JSON.stringify(result)}`);
  } finally {
    await store.close();
    removeDir(dir);
  }
}

await main();
