/**
 * DR drills and tiers through the CLI, with real processes: `rampart drill
 * run node-loss` (two `serve` children on an isolated PostgreSQL, kill -9)
 * and `key-restore` (an isolated node's issuing key backed up to shares,
 * deleted, restored) run at the same time against one node data directory;
 * their JSON results, the stored files, `drill history`, and the node's
 * `drills` health check and metrics (read from the database meta) are
 * checked. `restore-latest` restores a fresh `rampart backup create`;
 * `point-in-time` restores its own archiving PostgreSQL to a moment T;
 * `database-failover` kills the primary of its own pg_auto_failover formation.
 * Also `rampart tiers` and `rampart availability`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call } from './helpers/api-client.js';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';

interface Run { code: number; stdout: string; stderr: string; ms: number }

function rampart(dataDir: string, args: string[], timeoutMs = 300_000): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], {
      encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' }, maxBuffer: 16 * 1024 * 1024,
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, ms: Date.now() - t0 }));
  });
}

interface DrillJson {
  scenario: string; outcome: string; error: string | null; durationMs: number;
  tier: { name: string; rtoMinutes: number; rpoMinutes: number };
  measured: { rtoSeconds: number | null; rpoSeconds: number | null }; rtoMet: boolean | null; rpoMet: boolean | null;
  steps: Array<{ name: string; durationMs: number; ok: boolean }>; files: { json: string; report: string };
}

describe('DR drills, tiers and availability (CLI, real processes)', () => {
  let dataDir: string;
  let node: NodeProcess | undefined;
  const timings: string[] = [];

  before(async () => {
    dataDir = tempDir('rampart-drills-');
    // Takeover of the node-loss drill's cluster comes from the node's configuration: short for the test.
    // restore-latest's data loss is the backup's age: measured against a tier whose RPO a daily backup can meet.
    writeFileSync(join(dataDir, 'rampart.yaml'), [
      'cluster:', '  takeoverSeconds: 3',
      'drills:', '  tier:', '    restore-latest: crl-publication', '    point-in-time: backup', '    key-restore: root-ca', '    node-loss: issuance', '    database-failover: issuance', '',
    ].join('\n'));
    const init = await rampart(dataDir, ['--json', 'init']);
    assert.equal(init.code, 0, init.stderr);
    const backup = await rampart(dataDir, ['--json', 'backup', 'create']);
    assert.equal(backup.code, 0, backup.stderr);
  });
  after(async () => {
    await node?.stop();
    if (dataDir) removeDir(dataDir);
    console.log(`# timings: ${timings.join('; ')}`);
  });

  it('tiers and availability', async () => {
    const [restoreLatest, pointInTime, tiers, human, avail, bad, tiersHuman] = await Promise.all([
      rampart(dataDir, ['--json', 'drill', 'run', 'restore-latest']),
      rampart(dataDir, ['--json', 'drill', 'run', 'point-in-time'], 300_000),
      rampart(dataDir, ['--json', 'tiers']),
      rampart(dataDir, ['availability', '99.9']),
      rampart(dataDir, ['--json', 'availability', '99.95', '--revenue-per-hour', '1000']),
      rampart(dataDir, ['availability', '100']),
      rampart(dataDir, ['tiers']),
    ]);
    assert.equal(tiers.code, 0, tiers.stderr);
    const rows = JSON.parse(tiers.stdout).tiers as Array<{ component: string; availability: number | null; downtimePerYear: string | null; rtoMinutes: number; rpoMinutes: number; notes: string }>;
    const issuance = rows.find((r) => r.component === 'issuance')!;
    assert.deepEqual([issuance.availability, issuance.downtimePerYear, issuance.rtoMinutes, issuance.rpoMinutes], [99.9, '8.76 h', 60, 0]);
    assert.equal(rows.find((r) => r.component === 'root-ca')!.downtimePerYear, null);
    assert.match(tiersHuman.stdout, /validation\s+99\.95 %\s+4\.38 h\s+15 min\s+1 h/);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /per year \(365 d\)\s+8\.76 h/);
    assert.match(human.stdout, /per month \(30 d\)\s+43\.2 min/);
    assert.match(human.stdout, /per week\s+10\.1 min/);
    assert.match(human.stdout, /per day\s+1\.44 min/);
    const a = JSON.parse(avail.stdout);
    assert.equal(a.human.month, '21.6 min');
    assert.equal(a.revenueAtRisk.year, 4380);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /less than 100/);

    // restore-latest: the newest backup restored into the drill directory, a node started on it.
    timings.push(`restore-latest ${restoreLatest.ms} ms`);
    assert.equal(restoreLatest.code, 0, `${restoreLatest.stderr}\n${restoreLatest.stdout}`);
    const rl = JSON.parse(restoreLatest.stdout) as DrillJson;
    assert.equal(rl.outcome, 'passed', rl.error ?? '');
    assert.equal(rl.tier.name, 'crl-publication');
    assert.ok(rl.measured.rpoSeconds !== null && rl.measured.rpoSeconds >= 0 && rl.measured.rpoSeconds < 600, 'RPO = age of the backup');
    assert.equal(rl.rpoMet, true);
    assert.ok(rl.steps.some((x) => /^restore backup .* \(rampart restore\)$/.test(x.name) && x.ok));
    assert.ok(rl.steps.some((x) => x.name === 'OCSP says revoked (HTTP)' && x.ok));

    // point-in-time: its own archiving PostgreSQL, base backup, A, T, B, restore to T: all of A, none of B.
    timings.push(`point-in-time ${pointInTime.ms} ms`);
    assert.equal(pointInTime.code, 0, `${pointInTime.stderr}\n${pointInTime.stdout}`);
    const pit = JSON.parse(pointInTime.stdout) as DrillJson;
    assert.equal(pit.outcome, 'passed', pit.error ?? '');
    assert.equal(pit.tier.name, 'backup');
    assert.ok(pit.steps.every((x) => x.ok), JSON.stringify(pit.steps));
    for (const s of ['take a base backup (rampart pitr base)', 'all certificates A are on the restored node', 'no certificate B is on the restored node', 'OCSP says revoked (HTTP)']) {
      assert.ok(pit.steps.some((x) => x.name === s), `point-in-time has "${s}"`);
    }
    const order = (name: string) => pit.steps.findIndex((x) => x.name.startsWith(name));
    assert.ok(order('take a base backup') < order('issue 3 certificates A') && order('issue 3 certificates A') < order('note the target time T'));
    assert.ok(pit.measured.rtoSeconds !== null && pit.measured.rtoSeconds > 0 && pit.rtoMet === true, 'RTO = restore + node start');
    assert.ok(pit.measured.rpoSeconds !== null && pit.measured.rpoSeconds >= 0 && pit.measured.rpoSeconds < 5, `RPO = T - last recovered transaction (${pit.measured.rpoSeconds} s)`);
    assert.equal(pit.rpoMet, true);
    timings.push(`point-in-time RTO ${pit.measured.rtoSeconds} s, RPO ${pit.measured.rpoSeconds} s`);
  });

  it('drill run node-loss, key-restore and database-failover pass within their tiers; history, health and metrics follow', async () => {
    const [nodeLoss, keyRestore, dbFailover] = await Promise.all([
      rampart(dataDir, ['--json', 'drill', 'run', 'node-loss']),
      rampart(dataDir, ['--json', 'drill', 'run', 'key-restore']),
      rampart(dataDir, ['--json', 'drill', 'run', 'database-failover'], 300_000),
    ]);
    timings.push(`node-loss ${nodeLoss.ms} ms`, `key-restore ${keyRestore.ms} ms`, `database-failover ${dbFailover.ms} ms`);
    for (const [r, scenario, tier] of [[nodeLoss, 'node-loss', 'issuance'], [keyRestore, 'key-restore', 'root-ca'], [dbFailover, 'database-failover', 'issuance']] as const) {
      assert.equal(r.code, 0, `${scenario}: ${r.stderr}\n${r.stdout}`);
      const d = JSON.parse(r.stdout) as DrillJson;
      assert.equal(d.scenario, scenario);
      assert.equal(d.outcome, 'passed', d.error ?? '');
      assert.equal(d.tier.name, tier);
      assert.ok(d.steps.length >= 7 && d.steps.every((s) => s.ok && typeof s.durationMs === 'number'), JSON.stringify(d.steps));
      for (const s of ['issue a certificate (REST API)', 'OCSP says good (HTTP)', 'revoke it (REST API)', 'OCSP says revoked (HTTP)']) {
        assert.ok(d.steps.some((x) => x.name === s), `${scenario} ends with "${s}"`);
      }
      assert.ok(d.measured.rtoSeconds !== null && d.measured.rtoSeconds > 0, 'recovery time measured');
      assert.ok(d.measured.rtoSeconds! <= d.tier.rtoMinutes * 60);
      assert.equal(d.rtoMet, true);
      assert.equal(d.measured.rpoSeconds, 0);
      assert.equal(d.rpoMet, true);
      assert.ok(existsSync(d.files.json) && existsSync(d.files.report));
      assert.match(readFileSync(d.files.report, 'utf8'), new RegExp(`DR drill: ${scenario}[\\s\\S]*Outcome:\\s+PASSED`));
      timings.push(`${scenario} RTO ${d.measured.rtoSeconds} s`);
    }
    const nl = JSON.parse(nodeLoss.stdout) as DrillJson;
    assert.ok(nl.steps.some((s) => /^kill -9 n\d$/.test(s.name)));
    assert.ok(nl.measured.rtoSeconds! < 30, `takeover within a few seconds of takeoverSeconds 3 (took ${nl.measured.rtoSeconds} s)`);
    // database-failover: pg_auto_failover promotes the synchronous standby; nothing acknowledged is lost.
    const dbf = JSON.parse(dbFailover.stdout) as DrillJson;
    assert.ok(dbf.steps.some((s) => s.name === 'kill -9 the PostgreSQL primary (keeper, postmaster, backends)' && s.ok));
    assert.ok(dbf.steps.some((s) => s.name === 'every certificate acknowledged before the kill is on the promoted standby' && s.ok));

    const history = await rampart(dataDir, ['--json', 'drill', 'history']);
    assert.equal(history.code, 0, history.stderr);
    const h = JSON.parse(history.stdout);
    assert.deepEqual(h.runs.map((r: { scenario: string }) => r.scenario).sort(), ['database-failover', 'key-restore', 'node-loss', 'point-in-time', 'restore-latest']);
    assert.equal(h.last['node-loss'].outcome, 'passed');
    assert.equal(h.last['node-loss'].rtoSeconds, nl.measured.rtoSeconds);
    assert.ok(h.last['key-restore'].lastSuccessAt);
    assert.ok(h.last['restore-latest'].lastSuccessAt);
    assert.equal(h.last['point-in-time'].outcome, 'passed');
    assert.equal(h.last['database-failover'].outcome, 'passed');
    const humanHistory = await rampart(dataDir, ['drill', 'history']);
    assert.match(humanHistory.stdout, /node-loss\s+passed/);

    // The node reads the summaries from its database: metrics and the drills check (all applicable scenarios passed).
    node = await startNode({ dataDir });
    const ready = await call(`${node.httpUrl}/readyz`);
    assert.equal(ready.body.checks.drills.status, 'pass', JSON.stringify(ready.body.checks.drills));
    // database-corruption and root-key-loss apply too and have not run here: not yet due (a new schedule), so still a pass.
    assert.match(ready.body.checks.drills.detail, /^2 of 4 applicable scenario\(s\) passed/);
    const metrics = String((await call(`${node.httpUrl}/metrics`)).raw);
    assert.match(metrics, /rampart_drill_last_success_timestamp_seconds\{scenario="node-loss"\} \d+/);
    assert.match(metrics, /rampart_drill_last_success_timestamp_seconds\{scenario="key-restore"\} \d+/);
    assert.match(metrics, new RegExp(`rampart_drill_rto_seconds\\{scenario="node-loss"\\} ${nl.measured.rtoSeconds}`));
    assert.match(metrics, /rampart_drill_last_success_timestamp_seconds\{scenario="restore-latest"\} \d+/);
    assert.match(metrics, /rampart_drill_last_success_timestamp_seconds\{scenario="point-in-time"\} \d+/);
    assert.match(metrics, /rampart_drill_last_success_timestamp_seconds\{scenario="database-failover"\} \d+/);
  });

  it('unknown scenario: a clear error', async () => {
    const r = await rampart(dataDir, ['drill', 'run', 'meteor-strike']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown drill scenario "meteor-strike" \(known: restore-latest, point-in-time, key-restore, node-loss, database-failover, hsm-failure, database-corruption, ssh-key-restore, datacenter-loss, database-corruption-postgres, root-key-loss\)/);
  });
});
