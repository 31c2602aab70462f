/**
 * The Grafana dashboard (deploy/grafana/rampart.json) against real data:
 * Grafana is not installable here, so a real Prometheus (Debian package,
 * free loopback port, deploy/prometheus rule files loaded) scrapes a real
 * two-node cluster on PostgreSQL with a streaming standby (lease holder and
 * standby lag come from it), after some issuance and OCSP traffic. Then:
 * - the JSON is an importable dashboard: a `datasource` variable of type
 *   prometheus, every panel and target using it, unique panel ids;
 * - every target's query is valid (Prometheus /api/v1/query answers success,
 *   with Grafana's $__rate_interval replaced by 1m);
 * - every panel returns data: at least one of its targets has a non-empty
 *   result. A target may be legitimately empty here (the cross-region lag
 *   without `regions`, overload sheds that did not happen, drill scenarios
 *   that never passed); its panel then shows the series that stands for the
 *   same thing here (standby lag; 5xx counters exported at 0; the drills
 *   health check). No `or vector(0)` hides a missing series.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { call } from './helpers/api-client.js';
import { startClusterNode, stopAll, waitFor } from './helpers/cluster.js';
import type { NodeProcess } from './helpers/node-process.js';
import { removeDir, tempDir } from './helpers/node-process.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';
import { startPrometheus, type PrometheusServer } from './helpers/prometheus.js';

const DASHBOARD = fileURLToPath(new URL('../deploy/grafana/rampart.json', import.meta.url));
const RULES = ['rampart-rules.yml', 'rampart-slo-rules.yml'].map((f) => fileURLToPath(new URL(`../deploy/prometheus/${f}`, import.meta.url)));

interface Target { refId: string; expr: string; datasource: { type: string; uid: string } }
interface Panel { id: number; type: string; title: string; datasource?: { type: string; uid: string }; targets?: Target[] }

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string; query: string }> } };
const panels = dashboard.panels.filter((p) => p.type !== 'row');
/** Grafana's own variables, as Grafana would expand them for a short time range. */
const expand = (expr: string): string => expr.replaceAll('$__rate_interval', '1m');

describe('Grafana dashboard against a real Prometheus scraping a real cluster', () => {
  let pg: PgCluster;
  let prom: PrometheusServer | undefined;
  const nodes: NodeProcess[] = [];
  const dir = tempDir('rampart-grafana-');

  before(async () => {
    pg = await startPostgres({ standbys: 1 });
    await pg.createDatabase('grafana');
    // As docs/runbooks/operations.md asks: the standbys' lag (pg_stat_replication) needs pg_monitor.
    await pg.psql('GRANT pg_monitor TO rampart');
    const common = { hosts: pg.hosts(), database: 'grafana', mode: 'active-active' as const };
    nodes.push(await startClusterNode({ ...common, nodeId: 'g1' }));
    nodes.push(await startClusterNode({ ...common, nodeId: 'g2' }));
    prom = await startPrometheus({ targets: nodes.map((n) => new URL(n.httpUrl).host), ruleFiles: RULES });
    await waitFor('both nodes to be scraped', async () => {
      const r = await prom!.query('count(up{job="rampart"} == 1) == 2');
      return (r.data?.result.length ?? 0) > 0;
    }, 60_000);

    // Traffic: issuance on both nodes, OCSP on both.
    const token = nodes[0]!.adminToken!;
    const ca = String((await call(`${nodes[0]!.httpUrl}/ca/bundle.pem`)).body);
    const csr = readFileSync(makeCsr(dir, 'leaf', { subj: '/CN=grafana.example.test', san: 'DNS:grafana.example.test' }).csrPath, 'utf8');
    let leafPem = '';
    for (let i = 0; i < 4; i++) {
      const r = await call(`${nodes[i % 2]!.httpsUrl}/api/v1/certificates`, { token, ca, json: { csr, profile: 'server' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      leafPem = r.body.certificatePem;
    }
    const issuers = (await call(`${nodes[0]!.httpsUrl}/api/v1/issuers`, { token, ca })).body.items as Array<{ kind: string; active: boolean; certificatePem: string }>;
    writeFileSync(`${dir}/int.pem`, issuers.find((i) => i.kind === 'intermediate' && i.active)!.certificatePem);
    writeFileSync(`${dir}/leaf.pem`, leafPem);
    mustOpenssl(['ocsp', '-issuer', `${dir}/int.pem`, '-cert', `${dir}/leaf.pem`, '-no_nonce', '-reqout', `${dir}/req.der`]);
    const req = readFileSync(`${dir}/req.der`);
    for (let i = 0; i < 6; i++) {
      const r = await call(`${nodes[i % 2]!.httpUrl}/ocsp`, { body: req, headers: { 'content-type': 'application/ocsp-request' } });
      assert.equal(r.status, 200);
    }
  });

  after(async () => {
    await prom?.stop();
    await stopAll(nodes);
    await pg?.stop();
    removeDir(dir);
  });

  it('is an importable dashboard with a Prometheus datasource variable used by every panel', () => {
    assert.equal(dashboard.uid, 'rampart-ca');
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
    assert.ok(ds, 'a datasource variable');
    assert.equal(ds.query, 'prometheus');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
    assert.ok(panels.length >= 15, `${panels.length} panels`);
    for (const p of panels) {
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: `\${${ds.name}}` }, p.title);
      assert.ok(p.targets?.length, `${p.title} has queries`);
      for (const t of p.targets) assert.deepEqual(t.datasource, p.datasource, `${p.title} ${t.refId}`);
    }
    const titles = panels.map((p) => p.title).join(' | ');
    for (const want of [/Issuance rate/, /Issuance latency/, /OCSP responses/, /OCSP latency/, /Errors/, /Error budget/, /Availability/,
      /Replication lag/, /Lease holder/, /Last backup/, /Drill/, /HSM/]) assert.match(titles, want);
  });

  it('every query is valid and every panel returns data', async () => {
    // The targets empty here, each for the reason stated in the dashboard's description of its panel.
    const expectedEmpty = [
      'Drill freshness A', // no drill scenario has passed
      'Errors (5xx) and shed requests B', // nothing was shed
      'Replication lag B', 'Replication lag C', // no `regions`
    ];
    const empty: string[] = [];
    for (const p of panels) {
      // Bounded wait: rates and recording rules need a few scrapes and evaluations after the traffic, and the targets of
      // one panel do not all have their two samples at the same scrape: wait for every target expected to have data.
      const results = await waitFor(`panel "${p.title}" to return data`, async () => {
        const rs = await Promise.all(p.targets!.map(async (t) => ({ t, r: await prom!.query(expand(t.expr)) })));
        for (const { t, r } of rs) assert.equal(r.status, 'success', `panel "${p.title}" ${t.refId} ${t.expr}: ${r.error ?? ''}`);
        const has = ({ r }: (typeof rs)[number]): boolean => (r.data?.result.length ?? 0) > 0;
        return rs.some(has) && rs.every((x) => has(x) || expectedEmpty.includes(`${p.title} ${x.t.refId}`)) ? rs : null;
      }, 90_000, 1000).catch(() => Promise.all(p.targets!.map(async (t) => ({ t, r: await prom!.query(expand(t.expr)) }))));
      for (const { t, r } of results) if (!r.data?.result.length) empty.push(`${p.title} ${t.refId}`);
    }
    assert.deepEqual(empty.sort(), expectedEmpty);
  });

  it('the panels show this cluster: one lease holder, the standby, the traffic', async () => {
    const q = async (e: string) => (await prom!.query(e)).data!.result;
    const leader = await q('max by (instance) (rampart_cluster_leader)');
    assert.equal(leader.length, 2);
    assert.equal(leader.filter((s) => s.value[1] === '1').length, 1, JSON.stringify(leader));
    const standby = await q('max by (region, standby) (rampart_replication_standby_lag_bytes)');
    assert.deepEqual(standby.map((s) => s.metric.standby), ['walreceiver'], 'the one standby, under the application_name pg_basebackup -R gives it');
    const issued = await q('sum(rampart_certificates_issued_total)');
    assert.ok(Number(issued[0]!.value[1]) >= 4, JSON.stringify(issued));
    const budget = await q('rampart:slo_error_budget_remaining:ratio30d');
    assert.deepEqual(budget.map((s) => `${s.metric.slo}=${s.value[1]}`).sort(), ['issuance=1', 'validation=1']);
  });
});
