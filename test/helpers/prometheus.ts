/**
 * A real Prometheus server for tests (the Debian `prometheus` binary): its
 * own temporary configuration and TSDB directory, listening on a free
 * loopback port, scraping the given targets every second and evaluating the
 * given rule files every second. stop() kills it by PID and removes the
 * directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../../src/core/wait.js';
import { requireCommand } from './debian.js';
import { freePort } from './ports.js';

export interface PrometheusServer {
  url: string;
  /** GET /api/v1/query: the whole answer ({ status, data: { resultType, result } } or { status: 'error', error }). */
  query(expr: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } }>;
  output(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(o: { targets: string[]; ruleFiles?: string[]; job?: string }): Promise<PrometheusServer> {
  const bin = requireCommand('prometheus', 'prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'rampart-prometheus-'));
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '1s' },
    rule_files: o.ruleFiles ?? [],
    scrape_configs: [{ job_name: o.job ?? 'rampart', static_configs: [{ targets: o.targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config)); // JSON is YAML
  const child: ChildProcess = spawn(bin, [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1d',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { buf += d.toString(); });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil('prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${buf}`);
      try { return (await fetch(`${url}/-/ready`)).status === 200; } catch { return false; }
    }, 60_000, 200);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url,
    output: () => buf,
    async query(expr) {
      const r = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      return await r.json() as Awaited<ReturnType<PrometheusServer['query']>>;
    },
    stop,
  };
}
