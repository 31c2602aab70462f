/**
 * `rampart doctor` on a real data directory with its node running (a real
 * `rampart serve` process on SQLite):
 * - a fresh dev node: publicBaseUrl on loopback and no backup target fail,
 *   no drill passed and no replica warn, the rest (clock, disk, CA and OCSP
 *   signer expiry, the node's readiness and API TLS) is ok; exit status 2;
 *   every finding that is not ok names a fix;
 * - fixing one finding removes it: publicBaseUrl set; a backup target
 *   configured (then "no backup yet" warns) and `rampart backup create`
 *   (then it is ok); with only warnings left the exit status is 1;
 * - the node stopped: its readiness and API TLS fail.
 * - on PostgreSQL with a synchronous standby (a cluster node): the clock
 *   skew against the database is measured and ok, replication is ok with
 *   the standby named; without pg_monitor the standby's position is hidden
 *   and replication warns, naming the GRANT; granting it removes the finding.
 * Human output is checked once; the rest reads --json.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RAMPART_BIN, removeDir, startNode, tempDir, type NodeProcess } from './helpers/node-process.js';
import { clusterEnv, startClusterNode } from './helpers/cluster.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

interface Finding { check: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix: string }
interface Report { status: string; exitStatus: number; findings: Finding[] }

describe('rampart doctor', () => {
  let node: NodeProcess;
  const backups = tempDir('rampart-doctor-backups-');
  const env = { RAMPART_BACKUP_PASSPHRASE: 'doctor test backup passphrase' };

  const doctor = (json = true): { code: number | null; report: Report | null; stdout: string; stderr: string } => {
    const args = ['--data-dir', node.dataDir, ...(json ? ['--json'] : []), 'doctor', '--url', node.httpUrl, '--api-url', node.httpsUrl];
    const r = spawnSync(process.execPath, [RAMPART_BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
    return { code: r.status, report: json && r.stdout ? JSON.parse(r.stdout) as Report : null, stdout: r.stdout, stderr: r.stderr };
  };
  const byCheck = (r: Report): Record<string, Finding['status']> => Object.fromEntries(r.findings.map((f) => [f.check, f.status]));
  const config = (yaml: string): void => writeFileSync(join(node.dataDir, 'rampart.yaml'), yaml);

  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
    removeDir(backups);
  });

  it('a fresh dev node: loopback publicBaseUrl and no backup target fail, no drill and no replica warn (exit 2)', () => {
    const r = doctor();
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.report!.exitStatus, 2);
    assert.deepEqual(byCheck(r.report!), {
      publicBaseUrl: 'fail', clockSkew: 'ok', disk: 'ok', caExpiry: 'ok', ocspSigner: 'ok',
      backup: 'fail', drills: 'warn', replication: 'warn', node: 'ok', apiTls: 'ok',
    });
    for (const f of r.report!.findings) {
      if (f.status === 'ok') assert.equal(f.fix, '', f.check);
      else assert.ok(f.fix.length > 20, `${f.check} names a fix`);
    }
    assert.match(r.report!.findings.find((f) => f.check === 'drills')!.detail, /never passed: restore-latest/);
    assert.match(r.report!.findings.find((f) => f.check === 'apiTls')!.detail, /^TLSv1\.[23], .* chains to this CA$/);

    const human = doctor(false);
    assert.equal(human.code, 2);
    assert.match(human.stdout, /^FAIL {2}publicBaseUrl +http:\/\/127\.0\.0\.1:\d+: a loopback address/m);
    assert.match(human.stdout, /fix: set publicBaseUrl/);
    assert.match(human.stdout, /2 failure\(s\), 2 warning\(s\), 6 ok \(exit 2\)/);
  });

  it('fixing a finding removes it: publicBaseUrl, then backup target and backup (exit 1 with warnings only)', () => {
    config('publicBaseUrl: http://pki.example.test\n');
    let r = doctor();
    assert.equal(byCheck(r.report!).publicBaseUrl, 'ok');
    assert.equal(byCheck(r.report!).backup, 'fail');
    assert.equal(r.code, 2);

    config(`publicBaseUrl: http://pki.example.test\nbackup:\n  targets:\n    - type: directory\n      name: local\n      path: ${backups}\n`);
    r = doctor();
    const backup = r.report!.findings.find((f) => f.check === 'backup')!;
    assert.equal(backup.status, 'warn');
    assert.match(backup.detail, /no backup yet/);
    assert.match(backup.fix, /rampart backup create/);

    const made = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', node.dataDir, 'backup', 'create'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
    assert.equal(made.status, 0, made.stderr);
    r = doctor();
    assert.equal(byCheck(r.report!).backup, 'ok', JSON.stringify(r.report!.findings));
    assert.deepEqual(r.report!.findings.filter((f) => f.status !== 'ok').map((f) => `${f.check}:${f.status}`), ['drills:warn', 'replication:warn']);
    assert.equal(r.code, 1);
    assert.equal(r.report!.status, 'warn');
  });

  it('the node stopped: readiness and API TLS fail', async () => {
    await node.stop();
    const r = doctor();
    assert.equal(r.code, 2);
    assert.equal(byCheck(r.report!).node, 'fail');
    assert.equal(byCheck(r.report!).apiTls, 'fail');
    assert.match(r.report!.findings.find((f) => f.check === 'node')!.detail, /not reachable/);
  });
});

describe('rampart doctor on PostgreSQL with a synchronous standby', () => {
  let pg: PgCluster;
  let node: NodeProcess | undefined;
  const common = { database: 'doctor', mode: 'active-active' as const };

  before(async () => {
    pg = await startPostgres({ standbys: 1, synchronous: true });
    await pg.createDatabase('doctor');
    node = await startClusterNode({ ...common, hosts: pg.hosts(), nodeId: 'doc1' });
  });
  after(async () => {
    await node?.stop();
    if (node) removeDir(node.dataDir);
    await pg?.stop();
  });

  const doctor = (): Report => {
    const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', node!.dataDir, '--json', 'doctor', '--url', node!.httpUrl, '--api-url', node!.httpsUrl], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...clusterEnv({ ...common, hosts: pg.hosts(), nodeId: 'doctor-cli' }) },
    });
    assert.ok(r.status === 1 || r.status === 2, `${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Report;
  };
  const find = (r: Report, check: string): Finding => r.findings.find((f) => f.check === check)!;

  it('measures the clock skew against the database and sees the standby once pg_monitor is granted', async () => {
    let r = doctor();
    assert.equal(find(r, 'clockSkew').status, 'ok');
    assert.match(find(r, 'clockSkew').detail, /^this host is \d+ ms (behind|ahead of) the database \(round trip \d+ ms\)$/);
    assert.equal(find(r, 'replication').status, 'warn');
    assert.match(find(r, 'replication').detail, /positions hidden/);
    assert.match(find(r, 'replication').fix, /GRANT pg_monitor/);

    await pg.psql('GRANT pg_monitor TO rampart');
    r = doctor();
    assert.equal(find(r, 'replication').status, 'ok', JSON.stringify(find(r, 'replication')));
    assert.match(find(r, 'replication').detail, /^walreceiver sync \d+ bytes behind$/);
    assert.equal(find(r, 'node').status, 'ok');
  });
});
