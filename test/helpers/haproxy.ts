/**
 * Runs the real HAProxy for end-to-end tests: `haproxy -c` on a rendered
 * configuration, a foreground `haproxy -db` waiting until its listeners accept
 * connections, its stats page as data, and the TLS certificate of its API
 * frontend issued by a Rampart data dir through the CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { requireCommand } from './debian.js';
import { RAMPART_BIN } from './node-process.js';

/** Path of the haproxy binary (installs the Debian package when missing and root). */
export function haproxyBin(): string {
  return requireCommand('haproxy', 'haproxy', { dirs: ['/usr/sbin', '/usr/local/sbin'] });
}

export interface HaproxyCheckResult { ok: boolean; code: number; output: string }

/** `haproxy -c -f <cfg>`: whether HAProxy accepts the configuration, with its messages. */
export function haproxyCheck(cfgText: string, dir: string, name = 'check.cfg'): HaproxyCheckResult {
  const file = join(dir, name);
  writeFileSync(file, cfgText);
  const r = spawnSync(haproxyBin(), ['-c', '-f', file], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  const code = r.status ?? -1;
  return { ok: code === 0, code, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export interface HaproxyProcess {
  cfgFile: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** The host:port of every `bind` line (IPv6 in brackets), to wait for. */
export function bindAddresses(cfgText: string): Array<{ host: string; port: number }> {
  const out: Array<{ host: string; port: number }> = [];
  for (const m of cfgText.matchAll(/^\s*bind\s+(?:\[([^\]]+)\]|([^\s:]*)):(\d+)/gm)) {
    const host = m[1] ?? m[2] ?? '';
    out.push({ host: host === '' || host === '*' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port: Number(m[3]) });
  }
  return out;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Starts `haproxy -f <dir>/haproxy.cfg -db` (optionally under `wrap`) and waits until every bind address accepts connections. */
export async function startHaproxy(cfgText: string, dir: string, opts: { timeoutMs?: number; wrap?: string[] } = {}): Promise<HaproxyProcess> {
  const cfgFile = join(dir, 'haproxy.cfg');
  writeFileSync(cfgFile, cfgText);
  // wrap: an argv prefix such as ['ip', 'netns', 'exec', '<ns>'] (the fault lab).
  const [file, ...args] = [...(opts.wrap ?? []), haproxyBin(), '-f', cfgFile, '-db'];
  const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { buf += d.toString(); });
  const proc: HaproxyProcess = {
    cfgFile, child, output: () => buf,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(t);
    },
  };
  const binds = bindAddresses(cfgText);
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`haproxy exited (${child.exitCode ?? child.signalCode}):\n${buf}`);
    const ready = await Promise.all(binds.map((b) => accepts(b.host, b.port)));
    if (ready.every(Boolean)) {
      // Another process may hold one of the ports (taken between the port's check and haproxy's bind): then the
      // accept above was that process's, and haproxy exits at once with "cannot bind socket". Seen once in CI.
      await new Promise((r) => setTimeout(r, 150));
      if (child.exitCode !== null || child.signalCode !== null || /cannot bind/i.test(buf)) {
        await proc.stop();
        throw new Error(`haproxy could not bind every address (${binds.map((b) => `${b.host}:${b.port}`).join(', ')}), another process holds one:\n${buf}`);
      }
      return proc;
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`haproxy did not listen on ${binds.map((b) => `${b.host}:${b.port}`).join(', ')}:\n${buf}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The stats page CSV as rows keyed by column name (pxname, svname, status, wretr, wredis, ...). */
export async function haproxyStats(statsUrl: string): Promise<Array<Record<string, string>>> {
  const url = `${statsUrl.replace(/\/$/, '')}/;csv`;
  const r = await fetch(url).catch((e: unknown) => { throw new Error(`GET ${url}: ${describeFetchError(e)}`); });
  if (r.status !== 200) throw new Error(`stats page answered ${r.status}`);
  const lines = (await r.text()).trim().split('\n');
  const cols = lines[0]!.replace(/^# /, '').split(',');
  return lines.slice(1).map((line) => {
    const f = line.split(',');
    return Object.fromEntries(cols.map((c, i) => [c, f[i] ?? '']));
  });
}

/** A fetch error with its cause (undici's "fetch failed" alone says nothing). */
function describeFetchError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  return [err.message ?? String(e), err.cause?.code, err.cause?.message].filter(Boolean).join(': ');
}

/** Server states keyed 'backend/server': 'UP', 'DOWN', 'UP 1/3' (going down), 'MAINT', ... */
export async function haproxyServerStates(statsUrl: string): Promise<Record<string, string>> {
  const rows = (await haproxyStats(statsUrl)).filter((r) => r.svname !== 'FRONTEND' && r.svname !== 'BACKEND');
  return Object.fromEntries(rows.map((r) => [`${r.pxname}/${r.svname}`, r.status!]));
}

/** Polls the stats page until `want(states)` holds; returns the states, or throws after timeoutMs. */
export async function waitForServerStates(statsUrl: string, want: (s: Record<string, string>) => boolean, timeoutMs: number): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, string> = {};
  let failed: unknown = null;
  for (;;) {
    try {
      last = await haproxyServerStates(statsUrl);
      failed = null;
      if (want(last)) return last;
    } catch (e) {
      // A poll that fails (a kept-alive connection closed under it) is tried again; only one failing to the deadline counts.
      failed = e;
    }
    if (Date.now() > deadline) {
      const why = failed ? `; the stats page last failed: ${describeFetchError(failed)}` : '';
      throw new Error(`haproxy server states not reached within ${timeoutMs} ms: ${JSON.stringify(last)}${why}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Issues a TLS server certificate for localhost and 127.0.0.1 from the data
 * dir's CA with `rampart issue` (IP SANs allowed through the environment) and
 * writes certificate, chain and key into one PEM, as HAProxy's `crt` wants.
 */
export function makeHaproxyTlsCert(dataDir: string, dir: string, name = 'haproxy-frontend'): string {
  const prefix = join(dir, name);
  const r = spawnSync(process.execPath, [
    RAMPART_BIN, '--data-dir', dataDir, 'issue', '--cn', 'localhost', '--san', '127.0.0.1', '--san', 'localhost',
    '--profile', 'server', '--days', '2', '--out', prefix,
  ], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn', RAMPART_PROFILES__SERVER__ALLOW_IP_SANS: 'true' } });
  if (r.status !== 0) throw new Error(`rampart issue failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  const pem = `${prefix}.pem`;
  writeFileSync(pem, readFileSync(`${prefix}.chain.pem`, 'utf8') + readFileSync(`${prefix}.key`, 'utf8'), { mode: 0o600 });
  return pem;
}
