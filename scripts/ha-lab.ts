/**
 * HA lab on loopback: a PostgreSQL primary with a synchronous standby managed
 * by pg_auto_failover (monitor + two keepers), three Rampart nodes
 * (active-active) on that database, and HAProxy in front of them, configured
 * by `rampart haproxy-config`. Every process runs under this one and stops
 * with it.
 *
 * By hand (as root, or as a user that can run postgres):
 *   scripts/ha-lab.sh              # or: node --import tsx scripts/ha-lab.ts
 * prints the URLs, the admin token and the database commands, then waits;
 * Ctrl-C tears everything down. Tests import startHaLab() (test/db-failover.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { call } from '../test/helpers/api-client.js';
import { clusterEnv, startClusterNode } from '../test/helpers/cluster.js';
import { startHaproxy, waitForServerStates, type HaproxyProcess } from '../test/helpers/haproxy.js';
import { RAMPART_BIN, removeDir, tempDir, type NodeProcess } from '../test/helpers/node-process.js';
import { startAutoFailover, type AutoFailover } from '../test/helpers/pg-auto-failover.js';
import { freePort } from '../test/helpers/ports.js';

export interface HaLabOptions {
  /** Rampart nodes (default 3). */
  rampartNodes?: number;
  /** HAProxy health checks (fast by default so a recovered database is seen within a second). */
  check?: { intervalMs: number; timeoutMs: number; fall: number; rise: number };
  /** Keep the directories (logs, configuration, data) after stop(). */
  keep?: boolean;
  log?: (msg: string) => void;
}

export interface HaLab {
  db: AutoFailover;
  nodes: NodeProcess[];
  haproxy: HaproxyProcess;
  /** HTTPS REST API through HAProxy. */
  apiUrl: string;
  /** Plain HTTP validation (OCSP, CRLs, CA certificates) through HAProxy; also the certificates' publicBaseUrl. */
  validationUrl: string;
  statsUrl: string;
  adminToken: string;
  /** PEM bundle (root first) to trust the API with. */
  caPem: string;
  dir: string;
  stop(): Promise<void>;
}

const DEFAULT_CHECK = { intervalMs: 500, timeoutMs: 400, fall: 2, rise: 1 };

function rampartCli(args: string[], env: Record<string, string>): string {
  const r = spawnSync(process.execPath, [RAMPART_BIN, ...args], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn', ...env },
  });
  if (r.status !== 0) throw new Error(`rampart ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

export async function startHaLab(opts: HaLabOptions = {}): Promise<HaLab> {
  const log = opts.log ?? (() => {});
  const check = opts.check ?? DEFAULT_CHECK;
  const dir = tempDir('rampart-ha-lab-');
  const nodes: NodeProcess[] = [];
  let db: AutoFailover | undefined;
  let haproxy: HaproxyProcess | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await haproxy?.stop().catch((e) => log(`stopping haproxy: ${(e as Error).message}`));
    await Promise.all(nodes.map((n) => n.stop().catch((e) => log(`stopping a node: ${(e as Error).message}`))));
    await db?.stop().catch((e) => log(`stopping the database: ${(e as Error).message}`));
    if (!opts.keep) {
      for (const n of nodes) removeDir(n.dataDir);
      removeDir(dir);
    }
  };

  try {
    db = await startAutoFailover({ log, keep: opts.keep });
    const httpPort = await freePort(); // needed now: it goes into the certificates (publicBaseUrl)
    const validationUrl = `http://127.0.0.1:${httpPort}`;
    const common = { hosts: db.hosts(), database: db.database, mode: 'active-active' as const, publicBaseUrl: validationUrl };

    // The first node creates the hierarchy (and prints the admin token); the others join it.
    for (let i = 1; i <= (opts.rampartNodes ?? 3); i++) {
      const n = await startClusterNode({ ...common, nodeId: `rampart${i}` });
      nodes.push(n);
      log(`rampart${i}: ${n.httpUrl} ${n.httpsUrl}`);
    }
    const adminToken = nodes[0]!.adminToken;
    if (!adminToken) throw new Error(`the first node printed no admin token:\n${nodes[0]!.output()}`);
    const caPem = String((await call(`${nodes[0]!.httpUrl}/ca/bundle.pem`)).body);
    const caFile = join(dir, 'rampart-ca.pem');
    writeFileSync(caFile, caPem);

    // HAProxy's API frontend certificate, issued by the cluster's CA through the CLI
    // (mode 'single': a one-off command, not a node to list in the cluster registry).
    const env = { ...clusterEnv({ ...common, nodeId: 'ha-lab-cli' }), RAMPART_CLUSTER__MODE: 'single', RAMPART_PROFILES__SERVER__ALLOW_IP_SANS: 'true' };
    const prefix = join(dir, 'haproxy-frontend');
    rampartCli(['--data-dir', nodes[0]!.dataDir, 'issue', '--cn', 'localhost', '--san', '127.0.0.1', '--san', 'localhost',
      '--profile', 'server', '--days', '2', '--out', prefix], env);
    const tlsCert = `${prefix}.pem`;
    writeFileSync(tlsCert, readFileSync(`${prefix}.chain.pem`, 'utf8') + readFileSync(`${prefix}.key`, 'utf8'), { mode: 0o600 });

    const cfgFile = join(dir, 'rampart-haproxy.cfg');
    const [httpsPort, statsPort] = [await freePort(), await freePort()];
    rampartCli(['haproxy-config', ...nodes.map((n, i) => `--node=rampart${i + 1}=${n.httpUrl},${n.httpsUrl}`),
      '--mode', 'active-active', '--bind-http', `127.0.0.1:${httpPort}`, '--bind-https', `127.0.0.1:${httpsPort}`, '--stats-bind', `127.0.0.1:${statsPort}`,
      '--tls-cert', tlsCert, '--ca-file', caFile, '--interval', `${check.intervalMs}ms`, '--timeout', `${check.timeoutMs}ms`,
      '--fall', String(check.fall), '--rise', String(check.rise), '--out', cfgFile], {});
    haproxy = await startHaproxy(readFileSync(cfgFile, 'utf8'), dir);
    const statsUrl = `http://127.0.0.1:${statsPort}`;
    await waitForServerStates(statsUrl, (s) => Object.keys(s).length > 0 && Object.values(s).every((v) => v === 'UP'), 30_000);
    log('HAProxy: every node UP');

    return {
      db, nodes, haproxy, apiUrl: `https://127.0.0.1:${httpsPort}`, validationUrl, statsUrl, adminToken, caPem, dir, stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const lab = await startHaLab({ log: (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`), keep: process.argv.includes('--keep') });
  let stopping = false;
  const shutdown = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${sig}: stopping HAProxy, the Rampart nodes and the database...`);
    void lab.stop().then(() => { console.log('stopped'); process.exit(0); }, (e) => { console.error(e); process.exit(1); });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  const caFile = join(lab.dir, 'rampart-ca.pem');
  const p = await lab.db.primary();
  console.log(`
Rampart HA lab is up (${((Date.now() - t0) / 1000).toFixed(1)} s). Ctrl-C stops everything.

  API (HTTPS via HAProxy)      ${lab.apiUrl}
  OCSP/CRL (HTTP via HAProxy)  ${lab.validationUrl}
  HAProxy stats                ${lab.statsUrl}
  Rampart nodes                ${lab.nodes.map((n) => n.httpsUrl).join('  ')}
  Admin token                  ${lab.adminToken}
  CA bundle                    ${caFile}

  PostgreSQL (pg_auto_failover) primary ${p.name}; hosts ${lab.db.hosts().join(', ')}
  Monitor                      ${lab.db.monitorUri}
  Logs                         ${lab.db.baseDir}/logs

Try:
  curl --cacert ${caFile} -H 'authorization: Bearer ${lab.adminToken}' ${lab.apiUrl}/api/v1/cluster
  pg_autoctl show state --monitor ${lab.db.monitorUri}
  pg_autoctl show events --monitor ${lab.db.monitorUri}
  psql '${lab.db.connectionUri()}'

Type here (on a terminal): state | kill-primary (kill -9 its keeper, postgres and backends) | restart <node> | quit
`);
  if (!process.stdin.isTTY) return; // no terminal: the child processes keep us alive until a signal
  const rl = createInterface({ input: process.stdin });
  rl.on('close', () => shutdown('end of input'));
  for await (const line of rl) {
    const [cmd, arg] = line.trim().split(/\s+/);
    const t = Date.now();
    try {
      if (cmd === 'state') console.table(await lab.db.state());
      else if (cmd === 'kill-primary') {
        const k = await lab.db.killPrimary();
        console.log(`killed ${k.name}; waiting for the monitor to promote the standby...`);
        const np = await lab.db.waitForPrimary(k.name, 120_000);
        console.log(`${np.name} is primary after ${Date.now() - k.killedAt} ms; "restart ${k.name}" brings the old one back as a standby`);
      } else if (cmd === 'restart' && arg) {
        lab.db.restartNode(arg);
        const s = await lab.db.waitForState(arg, ['secondary'], 120_000);
        console.log(`${arg} rejoined as ${s.reported} after ${Date.now() - t} ms`);
      } else if (cmd === 'quit' || cmd === 'exit') { shutdown(cmd); break; } else if (cmd) console.log('state | kill-primary | restart <node> | quit');
    } catch (e) { console.error((e as Error).message); }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => { console.error(e); process.exit(1); });
}
