/**
 * PKCS#11 keys (SoftHSM2) next to software keys:
 *
 * 1. ECDSA P-256 signatures per second over 1 KiB (a typical TBSCertificate),
 *    in this process: a software key (node:crypto, on the event loop) and the
 *    PKCS#11 backend with 1, 2 and 4 sessions (C_SignInit + C_Sign in the
 *    backend's signing threads; two requests per session keep every session
 *    busy), with the share of the event loop each spends (event-loop utilization);
 * 2. REST issuance per second (POST /api/v1/certificates, the shared driver)
 *    at concurrency 1 and 8, a node with software keys and a node with
 *    keys.backend pkcs11 (one SoftHSM2 token, 4 sessions), one after the other.
 *
 * SoftHSM2 computes in software too, so this measures what the PKCS#11 path
 * costs (marshalling, sessions, thread hops), not what a hardware HSM does.
 *
 * `node --import tsx bench/hsm-bench.ts` alone, or part of `npm run bench`.
 * Writes bench/results/hsm-pkcs11.json and hsm-pkcs11.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { Signer } from '../src/keys/key-backend.js';
import { Pkcs11KeyBackend } from '../src/keys/pkcs11/pkcs11-backend.js';
import { generateKeyObject, SoftwareSigner } from '../src/keys/software/software-backend.js';
import { call } from '../test/helpers/api-client.js';
import { removeDir, startNode, tempDir, type NodeProcess } from '../test/helpers/node-process.js';
import { makeCsr } from '../test/helpers/openssl.js';
import { createSoftHsm, requireSoftHsm, TEST_PIN, type SoftHsm } from '../test/helpers/softhsm.js';
import {
  RESULTS_DIR, durationSeconds, failedResult, fmtInt, fmtMs, fmtPct, installAbortHandlers, LatencyRecorder, machine, meets, onAbort, round,
  warmupSeconds, writeResult, type BenchResult, type LatencyStats, type Target,
} from './bench-util.js';
import { driveLevels, invalidRun, type IssuanceRun } from './issuance-driver.js';
import { ISSUANCE_LEVELS, issueMax } from './issuance-bench.js';

export const HSM_NAME = 'hsm-pkcs11';
const TITLE = 'PKCS#11 keys (SoftHSM2) vs software keys: signatures and REST issuance';
const SESSION_LEVELS = [1, 2, 4];

/** No target in the issue; ours, for information: the PKCS#11 path keeps half of the software-key issuance rate at c=8. */
export const HSM_TARGET: Target = {
  description: 'REST issuance with SoftHSM2 keys >= 50 % of software keys at c=8 (informative: SoftHSM2 is not an HSM)',
  metric: 'issuancePercentOfSoftwareC8', comparator: '>=', value: 50, unit: '%', informative: true,
};

export interface SignRun {
  backend: 'software' | 'pkcs11';
  sessions: number | null;
  concurrency: number;
  signatures: number;
  seconds: number;
  perSecond: number;
  latencyMs: LatencyStats;
  /** Share of the wall time the event loop was busy (1 = saturated). */
  eventLoopUtilization: number;
}

async function signRate(backend: SignRun['backend'], signer: Signer, sessions: number | null, concurrency: number, seconds: number): Promise<SignRun> {
  const data = randomBytes(1024);
  const warm = performance.now() + 500;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (performance.now() < warm) await signer.sign(data); }));
  const lat = new LatencyRecorder(1_000_000);
  let n = 0;
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const s = performance.now();
      await signer.sign(data);
      lat.add(performance.now() - s);
      n++;
    }
  }));
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  const run: SignRun = {
    backend, sessions, concurrency, signatures: n, seconds: round(ms / 1000), perSecond: round((n / ms) * 1000, 1), latencyMs: lat.stats(),
    eventLoopUtilization: round(elu.utilization, 3),
  };
  console.log(`[hsm] ${backend}${sessions ? ` ${sessions} session(s)` : ''}, c=${concurrency}: ${fmtInt(run.perSecond)} P-256 signatures/s, event loop ${fmtPct(run.eventLoopUtilization * 100)} busy`);
  return run;
}

async function measureSignatures(hsm: SoftHsm, seconds: number): Promise<SignRun[]> {
  const runs: SignRun[] = [];
  runs.push(await signRate('software', new SoftwareSigner('bench', 'ecdsa-p256', generateKeyObject('ecdsa-p256')), null, 1, seconds));
  const token = hsm.initToken('bench-sign');
  const previous = process.env.SOFTHSM2_CONF;
  hsm.useInProcess();
  try {
    for (const sessions of SESSION_LEVELS) {
      const kb = await Pkcs11KeyBackend.open({ module: hsm.module, tokens: [{ uri: token.uri, pin: TEST_PIN }], sessionsPerToken: sessions, extractable: false, retrySeconds: 10 });
      try {
        const signer = await kb.generate(`bench-${sessions}`, 'ecdsa-p256');
        runs.push(await signRate('pkcs11', signer, sessions, 2 * sessions, seconds));
      } finally {
        kb.close();
      }
    }
  } finally {
    if (previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previous;
  }
  return runs;
}

async function measureIssuance(kind: 'software' | 'pkcs11', hsm: SoftHsm, workDir: string): Promise<IssuanceRun[]> {
  let env: Record<string, string> = {};
  if (kind === 'pkcs11') {
    const token = hsm.initToken('bench-node');
    env = {
      ...hsm.env, RAMPART_KEYS__BACKEND: 'pkcs11', RAMPART_KEYS__PKCS11__MODULE: hsm.module, RAMPART_KEYS__PKCS11__TOKENS: JSON.stringify([token.uri]),
      RAMPART_PKCS11_PIN: TEST_PIN,
    };
  }
  const node: NodeProcess = await startNode({ env });
  const untrack = onAbort(async () => { await node.stop(); removeDir(node.dataDir); });
  try {
    if (!node.adminToken) throw new Error('the node printed no admin token');
    const ca = String((await call(`${node.httpUrl}/ca/bundle.pem`)).body);
    const csrPem = readFileSync(makeCsr(workDir, `bench-${kind}`, { subj: '/CN=bench.example.test', san: 'DNS:bench.example.test' }).csrPath, 'utf8');
    const ready = await call(`${node.httpUrl}/readyz`);
    console.log(`[hsm] ${kind} node up; keyBackend: ${ready.body.checks?.keyBackend?.detail}`);
    return await driveLevels({ apiUrl: node.httpsUrl, ca, token: node.adminToken, csrPem }, `hsm ${kind}`, ISSUANCE_LEVELS, warmupSeconds(), durationSeconds(), issueMax());
  } finally {
    await node.stop();
    untrack();
    removeDir(node.dataDir);
  }
}

const cell = (v: string): string => v.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const tableMd = (head: string[], rows: string[][]): string[] => [head, head.map(() => '---'), ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`);

/** bench/results/hsm-pkcs11.md */
export function writeHsmMarkdown(r: BenchResult): string {
  const m = r.machine;
  const signs = (r.measurements.signatures as SignRun[] | undefined) ?? [];
  const iss = (r.measurements.issuance as { software?: IssuanceRun[]; pkcs11?: IssuanceRun[] } | undefined) ?? {};
  const soft = signs.find((s) => s.backend === 'software');
  const lines = [
    `# ${TITLE}`, '',
    `Generated by \`node --import tsx bench/hsm-bench.ts\` (also part of \`npm run bench\`) on ${r.date}. Raw record: ${HSM_NAME}.json.`, '',
    `Machine: ${m.cpus} × ${m.model}, ${m.totalmemGiB} GiB RAM, ${m.platform} ${m.release}, Node ${m.node}; load average at the end ${m.loadavg.join(' / ')}. `
      + `SoftHSM2 ${String(r.parameters.softhsm)}.`, '',
  ];
  if (r.error) lines.push(`**Error:** ${r.error}`, '');
  lines.push('## ECDSA P-256 signatures per second (1 KiB to sign, in the bench process)', '',
    ...tableMd(['Keys', 'Sessions', 'Concurrent requests', 'Signatures/s', 'vs software', 'p50 / p99', 'Event loop busy'],
      signs.map((s) => [s.backend === 'software' ? 'software (node:crypto)' : 'PKCS#11, SoftHSM2', s.sessions === null ? '—' : String(s.sessions), String(s.concurrency),
        fmtInt(s.perSecond), soft ? fmtPct((s.perSecond / soft.perSecond) * 100) : '—', `${fmtMs(s.latencyMs.p50)} / ${fmtMs(s.latencyMs.p99)}`, fmtPct(s.eventLoopUtilization * 100)])),
    '',
    'A software signature runs on the event loop. A PKCS#11 signature runs C_SignInit + C_Sign in one of the backend\'s signing threads '
      + '(worker_threads sharing the initialized module), one per session at a time; the event loop only hashes, passes messages and encodes '
      + 'the DER signature, and sessions add throughput up to the CPUs available. SoftHSM2 itself spends about 130 µs per P-256 signature '
      + '(it decrypts the key in C_SignInit), against about 35 µs for node:crypto: the first row is the ceiling of software keys, '
      + 'not of the PKCS#11 path.', '',
    '## REST issuance per second by key backend', '',
    ...tableMd(['Concurrency', 'Software keys', 'PKCS#11 (SoftHSM2, 4 sessions)', 'PKCS#11 vs software', 'Software p50 / p99', 'PKCS#11 p50 / p99'],
      ISSUANCE_LEVELS.map((c) => {
        const s = iss.software?.find((x) => x.concurrency === c);
        const p = iss.pkcs11?.find((x) => x.concurrency === c);
        const rate = (x?: IssuanceRun): string => (x ? `${fmtInt(x.perSecond)}/s` : 'not measured');
        const l = (x?: IssuanceRun): string => (x ? `${fmtMs(x.latencyMs.p50)} / ${fmtMs(x.latencyMs.p99)}` : '—');
        return [`c=${c}`, rate(s), rate(p), s && p ? fmtPct((p.perSecond / s.perSecond) * 100) : '—', l(s), l(p)];
      })),
    '',
    'POST /api/v1/certificates with an ECDSA P-256 CSR, profile server, a fresh Idempotency-Key per request, '
      + `${String(r.parameters.warmupSeconds)} s warm-up + ${String(r.parameters.durationSeconds)} s per level; the issuing CA key is ECDSA P-256 in both nodes, `
      + 'and each issuance also pre-signs its OCSP answer with the (also P-256) OCSP signer key.', '');
  const file = join(RESULTS_DIR, `${HSM_NAME}.md`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function softhsmVersion(): string {
  try {
    return execFileSync(requireSoftHsm(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Never throws: a failure becomes the record's error. Writes the markdown; the caller writes the JSON (writeResult). */
export async function runHsmBench(): Promise<BenchResult> {
  let hsm: SoftHsm | undefined;
  let workDir: string | undefined;
  let untrack = (): void => undefined;
  let result: BenchResult;
  const signatures: SignRun[] = [];
  const issuance: { software?: IssuanceRun[]; pkcs11?: IssuanceRun[] } = {};
  try {
    hsm = createSoftHsm('rampart-bench-softhsm-');
    workDir = tempDir('rampart-hsm-bench-');
    const h = hsm;
    const w = workDir;
    untrack = onAbort(async () => { h.cleanup(); removeDir(w); });
    signatures.push(...await measureSignatures(hsm, Math.min(5, durationSeconds())));
    issuance.software = await measureIssuance('software', hsm, workDir);
    issuance.pkcs11 = await measureIssuance('pkcs11', hsm, workDir);
    const c8 = (x?: IssuanceRun[]): IssuanceRun | undefined => x?.find((r) => r.concurrency === 8);
    const s8 = c8(issuance.software);
    const p8 = c8(issuance.pkcs11);
    const error = [...(issuance.software ?? []), ...(issuance.pkcs11 ?? [])].map(invalidRun).find(Boolean);
    const pct = s8 && p8 ? (p8.perSecond / s8.perSecond) * 100 : NaN;
    const actual = error || !Number.isFinite(pct) ? null : round(pct, 1);
    const soft = signatures.find((s) => s.backend === 'software');
    const best = signatures.filter((s) => s.backend === 'pkcs11').sort((a, b) => b.perSecond - a.perSecond)[0];
    const byLevel = (x: IssuanceRun[] | undefined): string => ISSUANCE_LEVELS.map((c) => fmtInt(x?.find((r) => r.concurrency === c)?.perSecond ?? NaN)).join(' / ');
    result = {
      name: HSM_NAME, title: TITLE, date: new Date().toISOString(), machine: machine(),
      parameters: {
        softhsm: softhsmVersion(), module: hsm.module, signingThreads: 'one worker thread per busy session (src/keys/pkcs11/sign-threads.ts)',
        signData: '1 KiB random', signSeconds: Math.min(5, durationSeconds()), sessionLevels: SESSION_LEVELS, requestsPerSession: 2,
        issuanceLevels: ISSUANCE_LEVELS, durationSeconds: durationSeconds(), warmupSeconds: warmupSeconds(), maxCount: issueMax(),
        pkcs11Node: 'one SoftHSM2 token, sessionsPerToken 4, hierarchy of the first run (root P-384, issuing CA P-256, OCSP signers P-256), all keys in the token',
      },
      measurements: { signatures, issuance, issuancePercentOfSoftwareC8: actual },
      target: HSM_TARGET, actual, pass: meets(HSM_TARGET, actual), ...(error ? { error } : {}),
      summary: {
        benchmark: `REST issuance with SoftHSM2 keys, ${ISSUANCE_LEVELS.map((c) => `c=${c}`).join(' / ')}, certs/s`,
        rampart: byLevel(issuance.pkcs11),
        ceiling: `${byLevel(issuance.software)} (software keys)`,
        ratio: ISSUANCE_LEVELS.map((c) => {
          const s = issuance.software?.find((r) => r.concurrency === c);
          const p = issuance.pkcs11?.find((r) => r.concurrency === c);
          return s && p ? fmtPct((p.perSecond / s.perSecond) * 100) : 'n/a';
        }).join(' / '),
        detail: `P-256 signatures/s: ${best ? `${fmtInt(best.perSecond)} (PKCS#11, ${best.sessions} sessions)` : 'n/a'}; `
          + `c=8 p50 / p99 ${p8 ? `${fmtMs(p8.latencyMs.p50)} / ${fmtMs(p8.latencyMs.p99)}` : 'n/a'}`,
        ceilingDetail: `P-256 signatures/s: ${soft ? fmtInt(soft.perSecond) : 'n/a'} (node:crypto); c=8 p50 / p99 ${s8 ? `${fmtMs(s8.latencyMs.p50)} / ${fmtMs(s8.latencyMs.p99)}` : 'n/a'}`,
      },
    };
  } catch (e) {
    console.error('[hsm] failed:', e);
    result = failedResult(HSM_NAME, TITLE, HSM_TARGET, e);
    result.measurements = { signatures, issuance };
  } finally {
    hsm?.cleanup();
    if (workDir) removeDir(workDir);
    untrack();
  }
  writeHsmMarkdown(result);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  installAbortHandlers();
  const r = await runHsmBench();
  writeResult(r);
  console.log(`\n[hsm] wrote ${join(RESULTS_DIR, `${HSM_NAME}.json`)} and ${HSM_NAME}.md`);
  console.log(`${r.error ? 'ERROR' : 'OK'}  ${r.summary.benchmark}: ${r.summary.rampart} vs ${r.summary.ceiling} -> ${r.summary.ratio}${r.error ? ` [${r.error}]` : ''}`);
  process.exitCode = r.error ? 1 : 0;
}
