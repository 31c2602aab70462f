/**
 * Runs pebble (Let's Encrypt's in-memory ACME test server, Debian package
 * `pebble`) and pebble-challtestsrv as child processes on loopback ports, for
 * the ACME comparison benchmark.
 *
 * - pebble-challtestsrv serves only its mock DNS (every A query answers
 *   127.0.0.1, no AAAA answers) and its management API; its own http-01,
 *   https-01 and tls-alpn-01 listeners are disabled.
 * - pebble listens with a TLS certificate for 127.0.0.1/localhost issued by a
 *   throw-away CA made here with openssl (returned as `caPem`, for the client's
 *   trust store), resolves identifiers through the challtestsrv DNS and
 *   validates http-01 on `httpPort` (the bench's own responder).
 * - PEBBLE_VA_NOSLEEP=1 (no artificial validation delay), PEBBLE_WFE_NONCEREJECT=0
 *   (no deliberately rejected nonces), PEBBLE_AUTHZREUSE=0 (every order gets fresh
 *   authorizations, as in the Rampart run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/ports.js';
import { mustOpenssl } from '../../test/helpers/openssl.js';
import { requireCommand } from '../../test/helpers/debian.js';
import { onAbort, stopChild } from '../bench-util.js';

export const PEBBLE_BIN = '/usr/bin/pebble';
export const CHALLTESTSRV_BIN = '/usr/bin/pebble-challtestsrv';
export const PEBBLE_ENV = { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' } as const;

export interface Pebble {
  directoryUrl: string;
  /** PEM of the CA that issued pebble's listener certificate. */
  caPem: string;
  version: string;
  /** Process id of pebble itself (for its CPU time). */
  pid: number | undefined;
  output: () => string;
  stop(): Promise<void>;
}

/** A TLS CA and a certificate for 127.0.0.1 / localhost, made with openssl in `dir`. */
function makeTlsCert(dir: string): { caPem: string; certPath: string; keyPath: string } {
  const p = (f: string): string => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  mustOpenssl(['req', '-x509', ...ec, '-keyout', p('tls-ca.key'), '-out', p('tls-ca.pem'), '-days', '2', '-subj', '/CN=bench pebble listener CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  mustOpenssl(['req', '-new', ...ec, '-keyout', p('tls.key'), '-out', p('tls.csr'), '-subj', '/CN=localhost']);
  writeFileSync(p('tls.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n');
  mustOpenssl(['x509', '-req', '-in', p('tls.csr'), '-CA', p('tls-ca.pem'), '-CAkey', p('tls-ca.key'), '-CAcreateserial', '-days', '2',
    '-extfile', p('tls.ext'), '-out', p('tls.pem')]);
  return { caPem: readFileSync(p('tls-ca.pem'), 'utf8'), certPath: p('tls.pem'), keyPath: p('tls.key') };
}

function collect(child: ChildProcess): () => string {
  let out = '';
  const add = (d: Buffer): void => { out = (out + d.toString()).slice(-20_000); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

function getStatus(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, timeout: 2_000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, timeoutMs: number, child: ChildProcess, output: () => string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts challtestsrv, then pebble; stops both again if anything fails. */
export async function startPebble(workDir: string, httpPort: number): Promise<Pebble> {
  // Both binaries come from Debian's pebble package: installed when missing and root, else a clear error (never a crash on spawn).
  requireCommand('pebble', 'pebble');
  requireCommand('pebble-challtestsrv', 'pebble');
  const tls = makeTlsCert(workDir);
  const [dnsPort, mgmtPort, pebblePort, pebbleMgmtPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  const untrack: Array<() => void> = [];
  const stopAll = async (): Promise<void> => {
    for (const c of [...children].reverse()) await stopChild(c, 3_000);
    for (const u of untrack) u();
  };
  const track = (c: ChildProcess): void => { children.push(c); untrack.push(onAbort(() => stopChild(c, 3_000))); };
  try {
    const dns = spawn(CHALLTESTSRV_BIN, [
      '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${mgmtPort}`,
      '-http01', '', '-https01', '', '-tlsalpn01', '',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    track(dns);
    const dnsOut = collect(dns);
    const resolver = new Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    await until('pebble-challtestsrv', 15_000, dns, dnsOut, async () => ((await resolver.resolve4('probe.acme-bench.test')).includes('127.0.0.1') ? true : undefined));

    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${pebblePort}`, managementListenAddress: `127.0.0.1:${pebbleMgmtPort}`,
        certificate: tls.certPath, privateKey: tls.keyPath, httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false,
      },
    };
    const configPath = join(workDir, 'pebble-config.json');
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const pebble = spawn(PEBBLE_BIN, ['-config', configPath, '-dnsserver', `127.0.0.1:${dnsPort}`], {
      cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...PEBBLE_ENV },
    });
    track(pebble);
    const pebbleOut = collect(pebble);
    const directoryUrl = `https://127.0.0.1:${pebblePort}/dir`;
    await until('pebble', 15_000, pebble, pebbleOut, async () => ((await getStatus(directoryUrl, tls.caPem)) === 200 ? true : undefined));
    const version = pebbleVersion();
    return { directoryUrl, caPem: tls.caPem, version, pid: pebble.pid, output: () => `${pebbleOut()}\n--- challtestsrv ---\n${dnsOut()}`, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** The installed Debian package version (pebble itself has no --version flag). */
export function pebbleVersion(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'pebble'], { encoding: 'utf8', timeout: 5_000 });
  return r.status === 0 && r.stdout ? `pebble ${r.stdout.trim()} (Debian package)` : 'pebble (version unknown)';
}
