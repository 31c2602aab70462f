/**
 * Runs bench/crl-bench.ts in its own process and turns its output into a
 * BenchResult (target: median generation time under 5 s for 100,000 entries,
 * with openssl listing exactly that many serial numbers).
 */
import { envNumber, fmtMiB, machine, meets, round, spawnTs, stopChild, waitForLine, type BenchResult, type Target } from './bench-util.js';

interface CrlRun {
  generateMs: number; crlNumber: string; baselineRss: number; peakRss: number; rssGrowth: number; rssSamples: number;
  baselineHeapUsed: number; peakHeapUsed: number; heapGrowth: number; heapSamples: number;
}

interface CrlChildResult {
  entries: number; crlEntries: number; crlNumber: string; crlBytes: number; insertMs: number; readOnlyMs: number; readOnlyCount: number;
  runs: CrlRun[];
  shards: { shards: number; allShardsMs: number; allShardsRssGrowth: number; allShardsMaxLoopDelayMs: number; oneShardMs: number; oneShardEntries: number;
    oneShardBytes: number; oneShardMaxLoopDelayMs: number; completeMaxLoopDelayMs: number };
  openssl: { signatureVerifies: boolean; verifyOutput: string; serialNumberLines: number };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export const CRL_TARGET: Target = {
  description: 'median generation time < 5 s for 100,000 entries', metric: 'medianGenerateMs', comparator: '<', value: 5000, unit: 'ms',
};

export async function runCrlBench(): Promise<BenchResult> {
  const entries = Math.floor(envNumber('BENCH_CRL_ENTRIES', 100_000));
  const runs = Math.floor(envNumber('BENCH_CRL_RUNS', 3));
  console.log(`[crl] ${entries.toLocaleString('en-US')} revoked entries, ${runs} generation(s), in a child process ...`);
  const shards = Math.floor(envNumber('BENCH_CRL_SHARDS', 16));
  const child = spawnTs('crl-bench.ts', [String(entries), String(runs), String(shards)], ['--expose-gc']);
  let r: CrlChildResult;
  try {
    const m = await waitForLine(child, /^CRL_RESULT (.*)$/, 600_000).line;
    r = JSON.parse(m[1]!) as CrlChildResult;
    // Let the child remove its temporary store before anything is stopped.
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(resolve, 60_000);
      child.once('exit', () => { clearTimeout(t); resolve(); });
    });
  } finally {
    await stopChild(child);
  }
  const times = r.runs.map((x) => x.generateMs);
  const med = median(times);
  const peakRssGrowth = Math.max(...r.runs.map((x) => x.rssGrowth));
  const peakHeapGrowth = Math.max(...r.runs.map((x) => x.heapGrowth));
  let error: string | undefined;
  if (r.openssl.serialNumberLines !== entries) error = `openssl lists ${r.openssl.serialNumberLines} serial numbers, expected ${entries}`;
  else if (r.crlEntries !== entries) error = `the CRL record says ${r.crlEntries} entries, expected ${entries}`;
  else if (!r.openssl.signatureVerifies) error = `openssl crl -CAfile does not verify the signature: ${r.openssl.verifyOutput}`;
  const actual = error ? null : round(med, 1);
  const target = entries === 100_000 ? CRL_TARGET : { ...CRL_TARGET, description: `${CRL_TARGET.description} (run used ${entries.toLocaleString('en-US')} entries)` };
  console.log(`[crl] median ${(med / 1000).toFixed(2)} s, peak RSS +${fmtMiB(peakRssGrowth)}, heap +${fmtMiB(peakHeapGrowth)}`);
  console.log(`[crl] all ${r.shards.shards} shards ${(r.shards.allShardsMs / 1000).toFixed(2)} s, RSS +${fmtMiB(r.shards.allShardsRssGrowth)}, one shard ${r.shards.oneShardMs.toFixed(0)} ms; `
    + `longest main-thread stall ${r.shards.allShardsMaxLoopDelayMs.toFixed(1)} ms (shards), ${r.shards.completeMaxLoopDelayMs.toFixed(1)} ms (complete CRL)`);
  return {
    name: 'crl-generation-100k',
    title: `CRL generation, ${entries.toLocaleString('en-US')} revoked entries`,
    date: new Date().toISOString(),
    machine: machine(),
    parameters: {
      entries, runs, process: 'own child process (bench/crl-bench.ts, node --expose-gc), GC before each run',
      store: 'temporary SqliteStore (WAL, synchronous=FULL); rows inserted in one transaction with prepared statements on store.db',
      issuer: 'ECDSA P-256 intermediate from createHierarchy (software key backend)',
      data: 'random 128-bit serials (randomSerial), a real leaf DER per row, 10 reason codes + no reason, revocation dates over ~300 days',
      path: 'CrlService.generate: nextCrlNumber, store.iterateRevoked in yielding chunks, TBSCertList and CertificateList encoded in one PKI pool worker, ECDSA signature on the main thread, saveCrl; then every shard CRL and one shard',
      memory: 'RSS sampled every 2 ms by a worker thread; heapUsed sampled every 1,000 entries and at the end; growth = peak - baseline after GC',
      verification: 'openssl crl -inform DER -noout -text | grep -c "Serial Number"; openssl crl -CAfile int.pem (signature)',
    },
    measurements: {
      medianGenerateMs: round(med, 1), minGenerateMs: round(Math.min(...times), 1), maxGenerateMs: round(Math.max(...times), 1),
      coldGenerateMs: round(times[0]!, 1), peakRssGrowthBytes: peakRssGrowth, peakHeapGrowthBytes: peakHeapGrowth,
      shards: r.shards, crlBytes: r.crlBytes, insertMs: round(r.insertMs, 1), readOnlyIterateMs: round(r.readOnlyMs, 1), runs: r.runs, openssl: r.openssl,
    },
    target, actual, pass: meets(target, actual), ...(error ? { error } : {}),
    summary: {
      benchmark: `CRL generation, ${entries.toLocaleString('en-US')} entries`,
      rampart: `${(med / 1000).toFixed(2)} s (median of ${runs}; ${(Math.min(...times) / 1000).toFixed(2)}–${(Math.max(...times) / 1000).toFixed(2)} s)`,
      ceiling: `${(r.readOnlyMs / 1000).toFixed(2)} s (only reading the rows via iterateRevoked)`,
      ratio: `${(med / r.readOnlyMs).toFixed(1)} × the read`,
      detail: `peak RSS +${fmtMiB(peakRssGrowth)}, heap +${fmtMiB(peakHeapGrowth)}`,
      ceilingDetail: `CRL ${fmtMiB(r.crlBytes)} DER`,
    },
  };
}
