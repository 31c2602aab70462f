/**
 * Leases on a real PostgreSQL with real node processes:
 * - active-passive: only the active node takes writes; when it is killed
 *   (-9), a standby takes over within the configured time (default 10 s);
 * - fencing: a leader paused with SIGSTOP while writing loses the lease, and
 *   after SIGCONT its write carries a stale epoch and the database refuses it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { call } from './helpers/api-client.js';
import { clusterEnv, clusterState, startClusterNode, stopAll, waitFor } from './helpers/cluster.js';
import { spawnSync } from 'node:child_process';
import type { NodeProcess } from './helpers/node-process.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { makeCsr } from './helpers/openssl.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

describe('leases, takeover and fencing on PostgreSQL', () => {
  let pg: PgCluster;
  const dir = tempDir('rampart-leases-');
  let csr = '';
  before(async () => {
    pg = await startPostgres();
    csr = readFileSync(makeCsr(dir, 'lease', { subj: '/CN=lease.example.test', san: 'DNS:lease.example.test' }).csrPath, 'utf8');
  });
  after(async () => {
    await pg?.stop();
    removeDir(dir);
  });

  it('active-passive: the standby refuses writes, then takes over within 10 s of the active node being killed', async () => {
    await pg.createDatabase('ap');
    const nodes: NodeProcess[] = [];
    try {
      const common = { hosts: pg.hosts(), database: 'ap', mode: 'active-passive' as const };
      const a = await startClusterNode({ ...common, nodeId: 'ap-a' });
      nodes.push(a);
      const token = a.adminToken!;
      assert.ok(token, 'the first node bootstraps the hierarchy and prints the admin token');
      const ca = String((await call(`${a.httpUrl}/ca/bundle.pem`)).body);
      const b = await startClusterNode({ ...common, nodeId: 'ap-b' });
      nodes.push(b);
      assert.equal(b.adminToken, null, 'the second node joins the existing hierarchy');
      await waitFor('a to be active', async () => (await call(`${a.httpUrl}/readyz?write=1`)).status === 200, 15_000);
      assert.equal((await call(`${b.httpUrl}/readyz?write=1`)).status, 503, 'the standby is not ready for writes');
      assert.equal((await call(`${b.httpUrl}/readyz`)).status, 200, 'the standby still serves validation');
      const refused = await call(`${b.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
      assert.equal(refused.status, 503);
      assert.match(refused.body.type, /notWritable/);
      const ok = await call(`${a.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
      assert.equal(ok.status, 201);
      const st = await clusterState(b, token, ca);
      assert.equal(st.leader?.holder, 'ap-a');
      assert.deepEqual(st.nodes.map((n) => n.id).sort(), ['ap-a', 'ap-b']);
      // The operator CLI shows the same from the shared database.
      const cli = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', b.dataDir, '--json', 'cluster', 'status'], {
        encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...clusterEnv({ ...common, nodeId: 'ap-cli' }) },
      });
      assert.equal(cli.status, 0, cli.stderr);
      const view = JSON.parse(cli.stdout);
      assert.equal(view.mode, 'active-passive');
      assert.equal(view.leader.holder, 'ap-a');
      const byId = Object.fromEntries(view.nodes.map((n: { id: string }) => [n.id, n]));
      assert.equal(byId['ap-a'].writable, true);
      assert.equal(byId['ap-b'].writable, false);
      assert.equal(byId['ap-a'].up, true);
      assert.ok(byId['ap-a'].version && byId['ap-a'].roles.length && byId['ap-a'].httpUrl && byId['ap-a'].lastSeen);
      assert.equal(byId['ap-cli'], undefined, 'a CLI command does not register as a node');

      const killedAt = Date.now();
      a.child.kill('SIGKILL');
      await waitFor('b to take over', async () => (await call(`${b.httpUrl}/readyz?write=1`)).status === 200, 20_000, 50);
      const takeoverMs = Date.now() - killedAt;
      const issued = await call(`${b.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const rtoMs = Date.now() - killedAt;
      console.log(`active-passive takeover: ${takeoverMs} ms to writable, ${rtoMs} ms to the first issuance (configured 10000 ms)`);
      assert.ok(takeoverMs <= 10_000, `takeover took ${takeoverMs} ms`);
      const after = await clusterState(b, token, ca);
      assert.equal(after.leader?.holder, 'ap-b');
      assert.ok(BigInt(after.leader!.epoch) > BigInt(st.leader!.epoch), 'the takeover raised the fencing epoch');
    } finally {
      await stopAll(nodes);
    }
  });

  it('fencing: a leader paused with SIGSTOP mid-write cannot write after SIGCONT', async () => {
    await pg.createDatabase('fence');
    const nodes: NodeProcess[] = [];
    try {
      const common = { hosts: pg.hosts(), database: 'fence', mode: 'active-active' as const, takeoverSeconds: 5 };
      const a = await startClusterNode({ ...common, nodeId: 'fence-a', env: { RAMPART_FAULT_PAUSE_BEFORE_LEADER_WRITE_MS: '2500' } });
      nodes.push(a);
      const token = a.adminToken!;
      const ca = String((await call(`${a.httpUrl}/ca/bundle.pem`)).body);
      const b = await startClusterNode({ ...common, nodeId: 'fence-b' });
      nodes.push(b);
      const before = await waitFor('a to lead', async () => {
        const s = await clusterState(b, token, ca);
        return s.leader?.holder === 'fence-a' ? s : null;
      }, 15_000);

      // A starts a leader-only write (CRL publication) and is frozen in the middle of it.
      const pending = call(`${a.httpsUrl}/api/v1/crl/generate`, { token, ca, method: 'POST' });
      await new Promise((r) => setTimeout(r, 400));
      a.child.kill('SIGSTOP');
      const moved = await waitFor('b to take the lease', async () => {
        const s = await clusterState(b, token, ca);
        return s.leader?.holder === 'fence-b' ? s : null;
      }, 15_000, 100);
      assert.ok(BigInt(moved.leader!.epoch) > BigInt(before.leader!.epoch));
      a.child.kill('SIGCONT');

      const r = await pending;
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.match(r.body.type, /fenced/, 'the database refused the stale epoch');
      const metrics = String((await call(`${a.httpUrl}/metrics`)).raw);
      assert.match(metrics, /rampart_fenced_writes_total [1-9]/);
      // A knows it is no longer leader and refuses leader-only work up front.
      const again = await waitFor('a to notice', async () => {
        const x = await call(`${a.httpsUrl}/api/v1/crl/generate`, { token, ca, method: 'POST' });
        return x.status === 503 && /notWritable/.test(x.body.type) ? x : null;
      }, 10_000, 200);
      assert.ok(again);
      // B, the new leader, publishes.
      const byB = await call(`${b.httpsUrl}/api/v1/crl/generate`, { token, ca, method: 'POST' });
      assert.equal(byB.status, 200, JSON.stringify(byB.body));
    } finally {
      for (const n of nodes) n.child.kill('SIGCONT');
      await stopAll(nodes);
    }
  });
});
