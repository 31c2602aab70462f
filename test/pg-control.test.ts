/**
 * src/region/pg-control.ts against real PostgreSQL (loopback only, the test
 * harness's clusters):
 *
 * - Failback by pg_rewind: the standby is promoted while the old primary
 *   still runs as a primary and takes a write the new primary never gets
 *   (a real split-brain divergence), then the old primary is SIGKILLed.
 *   rebuildAsStandby rewinds it (pg_rewind does the crash recovery of the
 *   killed server first) into a streaming standby of the new primary: in
 *   recovery, listed in the new primary's pg_stat_replication under its
 *   appName, on its old port, with the new primary's rows (also one written
 *   after the rebuild) and without the diverged one.
 * - Failback by base backup: the same, but the old primary ran with
 *   wal_log_hints = off (and no data checksums), which pg_rewind rejects —
 *   one of the real reasons a rewind is impossible, made here on purpose
 *   rather than by damaging files. Without allowBaseBackup the rebuild fails
 *   and leaves the directory alone; with it the directory is replaced by a
 *   base backup and the old one is kept aside as <dataDir>.old-<stamp>.
 * - synchronousNames + retargetStandby: standby1 is synchronous and standby2
 *   asynchronous; after the primary dies and standby1 is promoted, standby2
 *   is pointed at it and streams from it.
 * - pgStatus / pgStop on a stopped server (a no-op).
 * - A stale postmaster.pid (what a crash leaves): its PID gone, or taken by
 *   an unrelated process, and no server answering: pgStatus says stopped,
 *   pgStop removes it instead of failing ("could not send stop signal ... No
 *   such process"), pgStart starts the server on the directory.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pgConfValue, pgPort, pgPromote, pgStart, pgStatus, pgStop, rebuildAsStandby, retargetStandby, type PgSource } from '../src/region/pg-control.js';
import { startPostgres, type PgCluster, type PgNode } from './helpers/postgres.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * pg_rewind reads the target's WAL back to the last checkpoint before the
 * divergence; in a cluster this young that is the base backup's, whose
 * segment the old primary's own checkpoints would recycle: keep WAL, as a
 * production primary that may be rewound must (wal_keep_size or an archive).
 */
const KEEP_WAL = { wal_keep_size: "'256MB'" };
const source = (n: PgNode): PgSource => ({ host: '127.0.0.1', port: n.port, user: 'postgres' });

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try { if (await fn()) return; } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

/** Rows of t on a node, as 'id:note' joined by commas. */
const rows = (pg: PgCluster, n: PgNode) => pg.psql("SELECT string_agg(id || ':' || note, ',' ORDER BY id) FROM t", n.port);

/**
 * Primary + 1 standby; rows 1, 2 replicated; the standby promoted (pgPromote);
 * row 3 on the new primary; row 100 on the old primary (still a primary: a
 * divergent history); the old primary SIGKILLed.
 */
async function divergedPair(pg: PgCluster): Promise<{ oldPrimary: PgNode; newPrimary: PgNode }> {
  const oldPrimary = pg.primary;
  const newPrimary = pg.standbys[0]!;
  await pg.psql('CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL)');
  await pg.psql("INSERT INTO t VALUES (1, 'before'), (2, 'before')");
  await eventually('rows on the standby', async () => (await rows(pg, newPrimary)) === '1:before,2:before');
  await pgPromote(newPrimary.dataDir);
  await eventually('the standby to be promoted', async () => (await pg.psql('SELECT pg_is_in_recovery()', newPrimary.port)) === 'f');
  pg.setPrimary(newPrimary);
  await pg.psql("INSERT INTO t VALUES (3, 'new-primary')", newPrimary.port);
  await pg.psql("INSERT INTO t VALUES (100, 'diverged')", oldPrimary.port);
  await pg.psql('CHECKPOINT', oldPrimary.port);
  await pg.psql("INSERT INTO t VALUES (101, 'diverged')", oldPrimary.port);
  await pg.kill(oldPrimary, 'SIGKILL');
  return { oldPrimary, newPrimary };
}

/** The end state of a failback: `oldPrimary` streams from `newPrimary` as `appName`, has its rows and not the diverged ones. */
async function assertRebuilt(pg: PgCluster, oldPrimary: PgNode, newPrimary: PgNode, appName: string): Promise<void> {
  assert.equal(await pgStatus(oldPrimary.dataDir), 'running');
  assert.equal(pgPort(oldPrimary.dataDir), oldPrimary.port, 'keeps its own port');
  assert.equal(await pg.psql('SELECT pg_is_in_recovery()', oldPrimary.port), 't');
  assert.equal(await pg.psql('SELECT status FROM pg_stat_wal_receiver', oldPrimary.port), 'streaming');
  assert.equal(await pg.psql(`SELECT state FROM pg_stat_replication WHERE application_name = '${appName}'`, newPrimary.port), 'streaming');
  await pg.psql("INSERT INTO t VALUES (4, 'after-rebuild')", newPrimary.port);
  await eventually('the row written after the rebuild', async () => (await rows(pg, oldPrimary)) === '1:before,2:before,3:new-primary,4:after-rebuild');
  assert.equal(await pg.psql('SELECT count(*) FROM t WHERE id >= 100', oldPrimary.port), '0', 'the diverged rows are gone');
  const auto = readFileSync(join(oldPrimary.dataDir, 'postgresql.auto.conf'), 'utf8');
  assert.equal(auto.match(/^port\s*=/gm)?.length, 1, `one port line in postgresql.auto.conf:\n${auto}`);
  assert.match(pgConfValue(oldPrimary.dataDir, 'primary_conninfo') ?? '', new RegExp(`port=${newPrimary.port} .*application_name=${appName}`));
  assert.ok(existsSync(join(oldPrimary.dataDir, 'standby.signal')));
  await assert.rejects(pg.psql("INSERT INTO t VALUES (5, 'x')", oldPrimary.port), /read-only/);
}

describe('pg-control: failback by pg_rewind', () => {
  let pg: PgCluster;
  before(async () => { pg = await startPostgres({ standbys: 1, settings: KEEP_WAL }); });
  after(async () => { await pg?.stop(); });

  it('pgStatus, and pgStop on a stopped server is a no-op', async () => {
    const s = pg.standbys[0]!;
    assert.equal(await pgStatus(pg.primary.dataDir), 'running');
    await pg.stopNode(s, 'fast');
    assert.equal(await pgStatus(s.dataDir), 'stopped');
    await pgStop(s.dataDir);
    await pgStop(s.dataDir, { mode: 'immediate' });
    assert.equal(await pgStatus(s.dataDir), 'stopped');
    await pg.start(s);
    assert.equal(await pgStatus(s.dataDir), 'running');
    await eventually('the standby to stream again', async () =>
      (await pg.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) === '1');
  });

  it('rewinds a killed, diverged former primary into a streaming standby of the new primary', async () => {
    const { oldPrimary, newPrimary } = await divergedPair(pg);
    assert.equal(await pgStatus(oldPrimary.dataDir), 'stopped', 'a killed server (stale postmaster.pid) is stopped');
    const lines: string[] = [];
    const r = await rebuildAsStandby(oldPrimary.dataDir, source(newPrimary), {
      appName: 'failback_old', slot: 'failback_old', logFile: oldPrimary.logFile, log: (l) => lines.push(l),
    });
    assert.equal(r.method, 'rewind');
    const rewind = r.steps.find((s) => s.step === 'rewind');
    assert.equal(rewind?.detail?.startsWith('rewound'), true, JSON.stringify(r.steps));
    assert.deepEqual(r.steps.map((s) => s.step), ['check-source', 'stop', 'rewind', 'configure', 'start', 'wait-streaming']);
    assert.ok(r.steps.every((s) => s.ms >= 0));
    assert.equal(r.steps[0]!.detail, 'checkpoint; created slot failback_old');
    assert.ok(lines.length > 0);
    assert.equal(await pg.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'failback_old'", newPrimary.port), 't');
    await assertRebuilt(pg, oldPrimary, newPrimary, 'failback_old');
    assert.equal(await pg.psql('SELECT count(*) FROM pg_replication_slots', oldPrimary.port), '0', 'its old slot (standby1) is gone');
  });
});

describe('pg-control: failback by base backup when pg_rewind is impossible', () => {
  let pg: PgCluster;
  before(async () => { pg = await startPostgres({ standbys: 1, settings: KEEP_WAL, checksums: false }); });
  after(async () => { await pg?.stop(); });

  it('replaces the data directory with a base backup and keeps the old one aside', async () => {
    const primary = pg.primary;
    // pg_rewind needs wal_log_hints = on or data checksums on the target (this cluster has none).
    await pg.psql('ALTER SYSTEM SET wal_log_hints = off');
    await pg.stopNode(primary, 'fast');
    await pg.start(primary);
    assert.equal(await pg.psql('SHOW wal_log_hints'), 'off');
    assert.equal(await pg.psql('SHOW data_checksums'), 'off');
    await eventually('the standby to stream again', async () =>
      (await pg.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) === '1');
    const { oldPrimary, newPrimary } = await divergedPair(pg);

    await assert.rejects(rebuildAsStandby(oldPrimary.dataDir, source(newPrimary), { appName: 'failback_old' }),
      /pg_rewind failed and a base backup is not allowed.*wal_log_hints/s);
    assert.equal(await pgStatus(oldPrimary.dataDir), 'stopped');
    assert.equal(existsSync(join(oldPrimary.dataDir, 'standby.signal')), false, 'left alone');

    const r = await rebuildAsStandby(oldPrimary.dataDir, source(newPrimary), {
      appName: 'failback_old', allowBaseBackup: true, logFile: oldPrimary.logFile,
    });
    assert.equal(r.method, 'basebackup');
    assert.match(r.steps.find((s) => s.step === 'rewind')?.detail ?? '', /^failed: .*wal_log_hints/s);
    assert.deepEqual(r.steps.map((s) => s.step), ['check-source', 'stop', 'rewind', 'move-aside', 'basebackup', 'configure', 'start', 'wait-streaming']);
    const aside = r.steps.find((s) => s.step === 'move-aside')!.detail!;
    assert.equal(dirname(aside), dirname(oldPrimary.dataDir));
    assert.match(basename(aside), new RegExp(`^${basename(oldPrimary.dataDir)}\\.old-\\d{8}T\\d{6}Z$`));
    assert.deepEqual(readdirSync(dirname(aside)).filter((f) => f.includes('.old-')), [basename(aside)]);
    assert.ok(existsSync(join(aside, 'PG_VERSION')), 'the old data directory is kept');
    assert.equal(pgPort(aside), oldPrimary.port);
    await assertRebuilt(pg, oldPrimary, newPrimary, 'failback_old');
    assert.equal(await pg.psql('SHOW wal_log_hints', oldPrimary.port), 'off', 'its own postgresql.auto.conf is back');
  });
});

describe('pg-control: synchronous names and retargetStandby', () => {
  let pg: PgCluster;
  before(async () => { pg = await startPostgres({ standbys: 2, synchronousNames: ['standby1'] }); });
  after(async () => { await pg?.stop(); });

  it('standby1 is synchronous, standby2 is not; standby2 follows a promoted standby1', async () => {
    const [s1, s2] = pg.standbys as [PgNode, PgNode];
    assert.equal(await pg.psql("SELECT string_agg(application_name || '=' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication"),
      'standby1=sync,standby2=async');
    assert.equal(await pg.psql('SHOW cluster_name', s2.port), 'standby2');
    await pg.psql('CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL)');
    await pg.psql("INSERT INTO t VALUES (1, 'before')");
    await eventually('the row on standby2', async () => (await rows(pg, s2)) === '1:before');

    await pg.killPrimary('SIGKILL');
    await pgPromote(s1.dataDir);
    pg.setPrimary(s1);
    assert.equal(pg.primary, s1);
    await retargetStandby(s2.dataDir, source(s1), { appName: 'standby2' });
    assert.equal(await pg.psql("SELECT state FROM pg_stat_replication WHERE application_name = 'standby2'", s1.port), 'streaming');
    await pg.psql("INSERT INTO t VALUES (2, 'after')");
    await eventually('the new primary\'s row on standby2', async () => (await rows(pg, s2)) === '1:before,2:after');
    assert.equal(pgPort(s2.dataDir), s2.port);
  });
});

describe('pg-control: a stale postmaster.pid counts as stopped', () => {
  let pg: PgCluster;
  before(async () => { pg = await startPostgres(); });
  after(async () => { await pg?.stop(); });

  /** A PID that existed a moment ago and exists no more. */
  const deadPid = (): number => {
    const r = spawnSync('sh', ['-c', 'echo $$']);
    const pid = Number(String(r.stdout).trim());
    assert.ok(pid > 0);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    return pid;
  };

  it('pgStatus and pgStop treat it as stopped, pgStart starts the directory again', async () => {
    const n = pg.primary;
    const pidFile = join(n.dataDir, 'postmaster.pid');
    await pg.psql('CREATE TABLE t (id int PRIMARY KEY)');
    await pg.psql('INSERT INTO t VALUES (1)');
    const live = readFileSync(pidFile, 'utf8').split('\n');
    await pgStop(n.dataDir);
    assert.equal(existsSync(pidFile), false);
    const { uid, gid } = statSync(n.dataDir);
    const writeStale = (pid: number) => {
      writeFileSync(pidFile, [String(pid), ...live.slice(1)].join('\n'), { mode: 0o600 });
      chownSync(pidFile, uid, gid);
    };

    // The postmaster's PID is gone (a crash, a SIGKILL, a reboot).
    writeStale(deadPid());
    assert.equal(await pgStatus(n.dataDir), 'stopped');
    const lines: string[] = [];
    await pgStop(n.dataDir, { log: (l) => lines.push(l) });
    assert.equal(existsSync(pidFile), false, 'the stale postmaster.pid is removed');
    assert.ok(lines.some((l) => /removed a stale postmaster\.pid/.test(l)), lines.join('\n'));
    assert.equal(await pgStatus(n.dataDir), 'stopped');

    // The PID now belongs to an unrelated process (this test): pg_ctl status would call that running,
    // and postgres would refuse to start ("lock file already exists").
    writeStale(process.pid);
    assert.equal(await pgStatus(n.dataDir), 'stopped');
    await pgStop(n.dataDir, { mode: 'immediate' });
    assert.equal(existsSync(pidFile), false);

    // pgStart on a directory whose stale PID is another process's: the file goes, the server starts.
    writeStale(process.pid);
    await pgStart(n.dataDir, { logFile: n.logFile });
    assert.equal(await pgStatus(n.dataDir), 'running');
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    assert.notEqual(pid, process.pid);
    process.kill(pid, 0);
    assert.equal(await pg.psql('SELECT count(*) FROM t'), '1', 'the server runs on the directory again');
    assert.equal(await pgStatus(n.dataDir), 'running');
  });
});
