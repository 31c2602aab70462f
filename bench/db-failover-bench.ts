/**
 * Database failover, measured once: the HA lab of scripts/ha-lab.ts (a
 * PostgreSQL primary with a synchronous standby under pg_auto_failover, three
 * active-active Rampart nodes, HAProxy in front) under issuance load through
 * HAProxy; the primary's keeper, postmaster and backends are killed with -9.
 * Reported: kill to the first successful issuance sent after the kill (RTO,
 * against the tier RTO of 1 h for issuance), the monitor's own detection and
 * promotion times, and acknowledged certificates missing on the promoted
 * server (RPO, against the tier RPO of 0). If the lab cannot run, the records
 * say "not measured" with the reason.
 */
import type { HaLab } from '../scripts/ha-lab.js';
import { removeDir, tempDir } from '../test/helpers/node-process.js';
import { failedResult, fmtInt, machine, meets, onAbort, round, type BenchResult, type Target } from './bench-util.js';
import { benchCsr } from './cluster-setup.js';
import { drive, now, type RequestSample } from './issuance-driver.js';

export const DB_RTO_TARGET: Target = {
  description: '<= 1 h: the architecture tier RTO for issuance', metric: 'rtoSeconds', comparator: '<=', value: 3600, unit: 's', informative: true,
};
export const DB_RPO_TARGET: Target = {
  description: '0 acknowledged issuances lost: the architecture tier RPO 0', metric: 'acknowledgedLost', comparator: '<=', value: 0, unit: 'certificates', informative: true,
};
const RTO_TITLE = 'Database failover RTO: kill -9 of the PostgreSQL primary (pg_auto_failover)';
const RPO_TITLE = 'Database failover RPO: acknowledged issuances missing on the promoted standby';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number | null): string => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

function notMeasured(reason: string): BenchResult[] {
  const why = `not measured: ${reason}`;
  return [failedResult('rto-db-failover', RTO_TITLE, DB_RTO_TARGET, why, 'not measured'), failedResult('rpo-db-failover', RPO_TITLE, DB_RPO_TARGET, why, 'not measured')];
}

async function waitUntil(what: string, timeoutMs: number, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export async function runDbFailover(): Promise<BenchResult[]> {
  let startHaLab: (typeof import('../scripts/ha-lab.js'))['startHaLab'];
  try {
    ({ startHaLab } = await import('../scripts/ha-lab.js'));
  } catch (e) {
    return notMeasured(`scripts/ha-lab.ts does not load (${(e as Error).message.split('\n')[0]})`);
  }
  const dir = tempDir('rampart-bench-dbf-');
  const t0 = Date.now();
  const log = (m: string): void => console.log(`[db failover ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
  let lab: HaLab | undefined;
  let untrack = (): void => undefined;
  try {
    try {
      lab = await startHaLab({ log });
    } catch (e) {
      return notMeasured(`the pg_auto_failover lab did not start (${(e as Error).message.split('\n').slice(0, 3).join(' ')})`);
    }
    const started = lab;
    untrack = onAbort(() => started.stop());
    const target = { apiUrl: lab.apiUrl, ca: lab.caPem, token: lab.adminToken, csrPem: benchCsr(dir) };
    const concurrency = 4;
    const boundMs = 120_000;
    const samples: RequestSample[] = [];
    let stop = false;
    const load = drive(target, {
      concurrency, seconds: 300, maxCount: 100_000, maxFailures: 1_000_000, timeoutMs: 4_000, pauseAfterFailureMs: 100, record: true,
      until: () => stop, onSample: (s) => samples.push(s),
    });
    const okCount = (): number => samples.filter((s) => s.ok).length;
    let killedAt = 0;
    let victim = { name: '', port: 0 };
    let promoted: { name: string; port: number } | null = null;
    const marks: { unhealthyAt: number | null; failoverAssignedAt: number | null; promotedAt: number | null } = { unhealthyAt: null, failoverAssignedAt: null, promotedAt: null };
    let polling = true;
    let poll: Promise<void> = Promise.resolve();
    const db = lab.db;
    try {
      await waitUntil('20 issuances before the kill', 30_000, () => okCount() >= 20);
      victim = await db.primary();
      const ackedBeforeKill = okCount();
      killedAt = await db.killNode(victim.name); // Date.now() just before the kill
      log(`killed ${victim.name} (kill -9 keeper, postmaster, backends) after ${ackedBeforeKill} acknowledged issuances`);
      // The monitor's view, polled: when it marks the old primary unhealthy and when it starts the failover.
      poll = (async () => {
        while (polling && Date.now() < killedAt + boundMs && (marks.unhealthyAt === null || marks.failoverAssignedAt === null)) {
          try {
            const st = await db.state();
            const dead = st.find((n) => n.name === victim.name);
            const other = st.find((n) => n.name !== victim.name);
            if (dead && dead.health !== 1) marks.unhealthyAt ??= Date.now();
            if (other && other.assigned !== 'secondary') marks.failoverAssignedAt ??= Date.now();
          } catch { /* the monitor is busy; try again */ }
          await sleep(200);
        }
      })();
      promoted = await db.waitForPrimary(victim.name, boundMs);
      marks.promotedAt = Date.now();
      log(`pg_auto_failover promoted ${promoted.name} ${marks.promotedAt - killedAt} ms after the kill`);
      const killedAtMono = killedAt - (Date.now() - now());
      await waitUntil('an issuance sent after the kill to succeed', boundMs, () => samples.some((s) => s.ok && s.start >= killedAtMono));
      await sleep(2_000);
    } finally {
      stop = true;
      polling = false;
      await poll;
      await load;
    }
    const { run } = await load;
    const killedAtMono = killedAt - (Date.now() - now());
    const first = samples.filter((s) => s.ok && s.start >= killedAtMono).sort((a, b) => a.end - b.end)[0]!;
    const rtoMs = round(first.end - killedAtMono, 1);
    const rel = (t: number | null): number | null => (t === null ? null : t - killedAt);
    const acked = [...new Set(samples.filter((s) => s.ok).map((s) => s.serial!))];
    const onNew = new Set((await db.psql(promoted!.port, 'select serial from certificates', { user: db.user, database: db.database })).split('\n').filter(Boolean));
    const lost = acked.filter((s) => !onNew.has(s)).length;
    const failedAttempts: Record<string, number> = {};
    for (const s of samples) if (!s.ok) failedAttempts[s.error ?? '?'] = (failedAttempts[s.error ?? '?'] ?? 0) + 1;
    log(`RTO ${rtoMs} ms; monitor: unhealthy ${rel(marks.unhealthyAt)} ms, failover assigned ${rel(marks.failoverAssignedAt)} ms, promoted ${rel(marks.promotedAt)} ms; ${lost} of ${acked.length} acknowledged missing`);

    const parameters = {
      topology: 'pg_auto_failover monitor + primary + synchronous standby (scripts/ha-lab.ts, fast monitor timeouts), three active-active Rampart nodes, HAProxy',
      killed: `${victim.name}: keeper, postmaster and backends, SIGKILL`, load: `${concurrency} clients through HAProxy, fresh Idempotency-Key per attempt, 4 s client timeout, 100 ms pause after a failure`,
      boundMs, rto: 'kill to the end of the first successful issuance whose request was sent after the kill',
      monitorTimes: 'pg_autoctl show state polled every ~200 ms after the kill (resolution: one poll)',
    };
    const measurements = {
      rtoMs, monitorUnhealthyMs: rel(marks.unhealthyAt), monitorFailoverAssignedMs: rel(marks.failoverAssignedAt), promotedMs: rel(marks.promotedAt),
      promoted: promoted!.name, acknowledged: acked.length, acknowledgedMissingOnPromoted: lost, failedAttempts, run,
    };
    const rtoS = round(rtoMs / 1000, 3);
    const monitor = `monitor: unhealthy after ${secs(rel(marks.unhealthyAt))}, failover assigned ${secs(rel(marks.failoverAssignedAt))}, standby promoted ${secs(rel(marks.promotedAt))}`;
    const base = { date: new Date().toISOString(), machine: machine(), parameters, measurements };
    return [
      {
        name: 'rto-db-failover', title: RTO_TITLE, ...base, target: DB_RTO_TARGET, actual: rtoS, pass: meets(DB_RTO_TARGET, rtoS),
        summary: {
          benchmark: 'RTO: database failover (pg_auto_failover, kill -9 of the primary)', rampart: secs(rtoMs), ceiling: 'tier: issuance RTO 1 h',
          ratio: `${((rtoS / 3600) * 100).toFixed(2)} % of the tier`, detail: `kill to first issuance ${secs(rtoMs)}; ${monitor}`,
          ceilingDetail: `${fmtInt(Object.values(failedAttempts).reduce((a, b) => a + b, 0))} failed attempts meanwhile, retried by the clients`,
        },
      },
      {
        name: 'rpo-db-failover', title: RPO_TITLE, ...base, target: DB_RPO_TARGET, actual: lost, pass: meets(DB_RPO_TARGET, lost),
        summary: {
          benchmark: 'RPO: database failover, acknowledged issuances lost', rampart: `${lost} of ${fmtInt(acked.length)}`, ceiling: 'tier: RPO 0',
          ratio: '—', detail: `every 2xx serial looked up on the promoted ${promoted!.name}`, ceilingDetail: '—',
        },
      },
    ];
  } catch (e) {
    console.error('[db failover] failed:', e);
    return [failedResult('rto-db-failover', RTO_TITLE, DB_RTO_TARGET, e), failedResult('rpo-db-failover', RPO_TITLE, DB_RPO_TARGET, e)];
  } finally {
    await lab?.stop().catch((e) => console.error('[db failover] stopping the lab:', e));
    untrack();
    removeDir(dir);
  }
}
