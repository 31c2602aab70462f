/**
 * Database HA with an existing failover manager: a PostgreSQL primary with a
 * synchronous standby under pg_auto_failover, three Rampart nodes
 * (active-active) on it, HAProxy in front (scripts/ha-lab.ts). Rampart has no
 * failover logic of its own for the database: the monitor promotes, Rampart
 * only finds the writable host again (target_session_attrs) and retries.
 *
 * - Zero RPO: under issuance load (unique Idempotency-Key per request,
 *   retried with the same key until a deadline) the primary's keeper,
 *   postmaster and backends are killed with -9. After the monitor promotes the
 *   standby, every certificate acknowledged with 2xx is on the new primary and
 *   served by the API. The RTO (kill to first successful issuance) is printed.
 * - Split brain: the old primary's keeper is started again; the monitor turns
 *   it into a standby. It never answers as a primary meanwhile, has no
 *   certificate the new primary lacks, and refuses a direct write.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { startHaLab, type HaLab } from '../scripts/ha-lab.js';
import { call } from './helpers/api-client.js';
import { removeDir, tempDir } from './helpers/node-process.js';
import { makeCsr } from './helpers/openssl.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A client keeps retrying one request (same Idempotency-Key) this long before giving up on it. */
const REQUEST_DEADLINE_MS = 90_000;
/** A client abandons an attempt after this long and retries with the same key (the attempt may still commit). */
const ATTEMPT_TIMEOUT_MS = 4_000;

/** POST /api/v1/certificates with a client-side timeout (api-client's call() waits 30 s). */
function issueOnce(lab: HaLab, csr: string, key: string): Promise<{ status: number; body: any }> {
  const payload = Buffer.from(JSON.stringify({ csr, profile: 'server' }));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${lab.apiUrl}/api/v1/certificates`, {
      method: 'POST', ca: lab.caPem, timeout: ATTEMPT_TIMEOUT_MS,
      headers: { authorization: `Bearer ${lab.adminToken}`, 'content-type': 'application/json', 'content-length': String(payload.length), 'idempotency-key': key },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

/** One 2xx answer; `replayed` (200, Idempotency-Replayed) when an earlier attempt with the key had already issued it. */
interface Ack { key: string; serial: string; replayed: boolean; attemptStartedAt: number; ackedAt: number }

/** Issuance load through HAProxy: `workers` clients, each retrying a request with its key until acknowledged. */
function startLoad(lab: HaLab, csr: string, tag: string, workers = 4) {
  const acks: Ack[] = [];
  const serialOf = new Map<string, string>();
  const conflicts: string[] = [];
  const abandoned: string[] = [];
  const errors = new Map<string, number>();
  let stopping = false;
  let seq = 0;
  const worker = async (w: number): Promise<void> => {
    while (!stopping) {
      const key = `${tag}-${w}-${seq++}`;
      const startedAt = Date.now();
      for (;;) {
        const attemptStartedAt = Date.now();
        let why = '';
        try {
          const r = await issueOnce(lab, csr, key);
          if (r.status >= 200 && r.status < 300) {
            const serial = String(r.body.serial);
            const prev = serialOf.get(key);
            if (prev !== undefined && prev !== serial) conflicts.push(`${key}: ${prev} then ${serial}`);
            serialOf.set(key, serial);
            acks.push({ key, serial, replayed: r.status === 200, attemptStartedAt, ackedAt: Date.now() });
            break;
          }
          why = `HTTP ${r.status}${r.body?.type ? ` ${String(r.body.type).split('/').pop()}` : ''}`;
        } catch (e) {
          why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        }
        errors.set(why, (errors.get(why) ?? 0) + 1);
        if (Date.now() - startedAt > REQUEST_DEADLINE_MS) { abandoned.push(key); break; }
        await sleep(100);
      }
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    acks, serialOf, conflicts, abandoned, errors,
    /** The first new issuance (201, not a replay) of an attempt sent at or after `t`: it was written after `t`. */
    firstIssuanceSentAfter: (t: number) => acks.filter((a) => !a.replayed && a.attemptStartedAt >= t).sort((a, b) => a.ackedAt - b.ackedAt)[0],
    async stop(): Promise<void> { stopping = true; await running; },
  };
}

async function waitUntil(what: string, timeoutMs: number, cond: () => boolean | Promise<boolean>, explain?: () => string | Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) {
      const why = explain ? `\n${await Promise.resolve().then(explain).catch((e) => `(no explanation: ${(e as Error).message})`)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(50);
  }
}

/** What a failed wait shows: the clients' failed attempts, and each node's state and warnings (its last log lines at warn or above). */
async function labState(lab: HaLab, errors: Map<string, number>): Promise<string> {
  const lines = [`failed attempts seen by clients: ${JSON.stringify(Object.fromEntries(errors))}`];
  for (const [i, n] of lab.nodes.entries()) {
    const exited = n.child.exitCode !== null || n.child.signalCode !== null;
    const warnings = n.output().split('\n').filter((l) => /"level":(4|5|6)\d/.test(l)).slice(-12).map((l) => `    ${l.slice(0, 600)}`);
    lines.push(`  rampart${i + 1} (pid ${n.child.pid}): ${exited ? `exited (${n.child.exitCode ?? n.child.signalCode})` : 'running'}; last warnings:`, ...warnings);
  }
  const state = await lab.db.state().catch((e) => `(pg_autoctl show state failed: ${(e as Error).message})`);
  lines.push(`  pg_auto_failover: ${typeof state === 'string' ? state : JSON.stringify(state)}`);
  return lines.join('\n');
}

describe('database HA: pg_auto_failover primary + synchronous standby under three Rampart nodes', { timeout: 400_000 }, () => {
  let lab: HaLab;
  let dir: string;
  let csr: string;
  let killed: { name: string; port: number; killedAt: number } | undefined;
  let newPrimary: { name: string; port: number } | undefined;
  const t0 = Date.now();
  const log = (m: string) => console.log(`[db-failover ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
  // Read as the superuser: it has reserved connection slots, so the check works whatever the nodes hold.
  // The nodes' connections on that server are logged (see the closing note of stop 11 on pool recycling).
  const serials = async (port: number): Promise<Set<string>> => {
    log(`connections on :${port}: ${(await lab.db.psql(port, "select coalesce(nullif(application_name, ''), usename) || ' ' || coalesce(state, '-') || ' ' || count(*) from pg_stat_activity where backend_type = 'client backend' group by application_name, usename, state order by count(*) desc", {})).split('\n').join('; ')}`);
    return new Set((await lab.db.psql(port, 'select serial from certificates', { database: lab.db.database })).split('\n').filter(Boolean));
  };

  before(async () => {
    dir = tempDir('rampart-db-failover-');
    csr = readFileSync(makeCsr(dir, 'load', { subj: '/CN=load.example.test', san: 'DNS:load.example.test' }).csrPath, 'utf8');
    lab = await startHaLab({ log });
  });
  after(async () => {
    await lab?.stop();
    if (dir) removeDir(dir);
  });

  it('zero RPO: kill -9 of the primary under issuance load loses no acknowledged certificate', async () => {
    const p = await lab.db.primary();
    // Synchronous replication is on before we start: a commit waits for the standby.
    assert.notEqual(await lab.db.psql(p.port, 'show synchronous_standby_names'), '', 'synchronous_standby_names is set on the primary');
    assert.equal(await lab.db.psql(p.port, 'show synchronous_commit'), 'on');
    assert.match(await lab.db.psql(p.port, 'select sync_state from pg_stat_replication'), /^(sync|quorum)$/);

    const load = startLoad(lab, csr, 'rpo');
    try {
      await waitUntil('acknowledged issuances before the kill', 60_000, () => load.acks.length >= 40);
      killed = await lab.db.killPrimary();
      const ackedBeforeKill = load.acks.filter((a) => a.ackedAt <= killed!.killedAt).length;
      log(`killed ${killed.name} (kill -9 keeper, postmaster, backends) after ${ackedBeforeKill} acknowledged issuances`);

      newPrimary = await lab.db.waitForPrimary(killed.name, 120_000);
      log(`pg_auto_failover promoted ${newPrimary.name} ${Date.now() - killed.killedAt} ms after the kill`);
      await waitUntil('an issuance sent after the kill to succeed', 120_000, () => load.firstIssuanceSentAfter(killed!.killedAt) !== undefined, () => labState(lab, load.errors));
      const rto = load.firstIssuanceSentAfter(killed.killedAt)!.ackedAt - killed.killedAt;
      console.log(`RTO database failover: ${rto} ms (kill -9 of the PostgreSQL primary to the first successful issuance through HAProxy)`);
      const n = load.acks.length;
      await waitUntil('more issuances on the new primary', 60_000, () => load.acks.length >= n + 40, () => labState(lab, load.errors));
    } finally {
      await load.stop();
    }
    const replays = load.acks.filter((a) => a.replayed).length;
    log(`${load.acks.length} acknowledgements (${replays} idempotent replays of retried keys); failed attempts seen by clients: ${JSON.stringify(Object.fromEntries(load.errors))}`);
    assert.deepEqual(load.abandoned, [], 'every request was acknowledged within its retry deadline');
    assert.deepEqual(load.conflicts, [], 'a retried Idempotency-Key always returns the same certificate');

    // Every acknowledged serial is on the new primary...
    const onNew = await serials(newPrimary!.port);
    const acked = [...new Set(load.serialOf.values())];
    assert.deepEqual(acked.filter((s) => !onNew.has(s)), [], 'acknowledged certificates missing on the promoted standby');
    // ... and served by the API.
    // As a client would, a 503 (HAProxy with no node up in `reads`: the lab's 400 ms checks flap
    // when the host is loaded; or a node shedding) is retried, bounded; anything else is final.
    const missing: string[] = [];
    let retried503 = 0;
    for (let i = 0; i < acked.length; i += 16) {
      await Promise.all(acked.slice(i, i + 16).map(async (s) => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const r = await call(`${lab.apiUrl}/api/v1/certificates/${s}`, { token: lab.adminToken, ca: lab.caPem });
          if (r.status === 503 && Date.now() < deadline) { retried503++; await sleep(250); continue; }
          if (r.status !== 200 || r.body.serial !== s) missing.push(`${s}: ${r.status} ${r.raw.toString('utf8').slice(0, 200)}`);
          break;
        }
      }));
    }
    log(`read back ${acked.length} acknowledged certificates through HAProxy (${retried503} reads retried after a 503)`);
    assert.deepEqual(missing, [], 'acknowledged certificates the API does not return');
  });

  it('split brain: the old primary comes back as a standby and is never written to', async () => {
    assert.ok(killed && newPrimary, 'the zero-RPO test killed a primary');
    const old = killed;
    const load = startLoad(lab, csr, 'rejoin');
    // Probe the old primary from the moment its keeper starts: it must never answer as a primary.
    const seenAsPrimary: string[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        try {
          const r = await lab.db.psql(old.port, "select pg_is_in_recovery() || ' ' || current_setting('transaction_read_only')");
          if (r !== 'true on') seenAsPrimary.push(`${new Date().toISOString()} ${r}`);
        } catch { /* not accepting connections yet */ }
        await sleep(100);
      }
    })();
    try {
      const restartedAt = Date.now();
      lab.db.restartNode(old.name);
      const st = await lab.db.waitForState(old.name, ['secondary'], 120_000);
      log(`${old.name} rejoined as ${st.reported} ${Date.now() - restartedAt} ms after its keeper restarted (timeline ${st.tli})`);
      const n = load.acks.length;
      await waitUntil('issuances after the rejoin', 60_000, () => load.acks.length >= n + 20, () => labState(lab, load.errors));
    } finally {
      probing = false;
      await probe;
      await load.stop();
    }
    assert.deepEqual(seenAsPrimary, [], 'the old primary answered as a writable primary');
    assert.deepEqual(load.abandoned, []);
    assert.deepEqual(load.conflicts, []);
    assert.equal(await lab.db.psql(old.port, 'select pg_is_in_recovery()'), 't', 'the old primary is a standby');
    assert.deepEqual(await lab.db.primary(), newPrimary, 'the promoted standby is still the primary');

    // New issuances land on the new primary; the old one has nothing the new one lacks.
    const onNew = await serials(newPrimary!.port);
    const acked = [...new Set(load.serialOf.values())];
    assert.deepEqual(acked.filter((s) => !onNew.has(s)), [], 'issuances during the rejoin are on the new primary');
    // The monitor moves the new primary from wait_primary back to primary, which turns synchronous replication on again.
    await lab.db.waitForState(newPrimary!.name, ['primary'], 60_000);
    await waitUntil('the old primary to be the synchronous standby', 30_000, async () =>
      /^(sync|quorum)$/.test(await lab.db.psql(newPrimary!.port, 'select sync_state from pg_stat_replication')));
    assert.notEqual(await lab.db.psql(newPrimary!.port, 'show synchronous_standby_names'), '');
    const lsn = await lab.db.psql(newPrimary!.port, 'select pg_current_wal_lsn()');
    await waitUntil('the standby to replay everything', 30_000, async () => (await lab.db.psql(old.port, `select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`)) === 't');
    const onOld = await serials(old.port);
    assert.deepEqual([...onOld].filter((s) => !onNew.has(s)), [], 'certificates on the old primary that the new primary lacks');
    assert.equal(onOld.size, onNew.size, 'the old primary, now a synchronous standby, has every certificate');

    // A direct write to the old primary fails: it is read-only.
    await assert.rejects(lab.db.psql(old.port, 'create table split_brain_probe (x int)', { user: lab.db.user, database: lab.db.database }), /read-only transaction/);
    await assert.rejects(lab.db.psql(old.port, "update certificates set profile = 'x' where seq = (select min(seq) from certificates)", { user: lab.db.user, database: lab.db.database }), /read-only transaction/);
  });
});
