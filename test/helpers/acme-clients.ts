/**
 * Drives real ACME clients nobody here wrote: lego (Go) and certbot (Python),
 * both from Debian. Every run gets its own directories, a bounded time (the
 * child and everything it started are killed on timeout), trusts the ACME
 * server through a PEM file given by the caller, and returns the exit code,
 * output and where the client left the certificate and key.
 *
 * dns-01 with lego uses its `exec` provider: a generated shell script that
 * lego calls as `script present|cleanup <fqdn> <value>`, which adds or removes
 * the TXT value in a JSON file that the test DNS server reads:
 * { "<name, lower case, no trailing dot>": ["value", ...], ... }
 * (the format test/helpers/dns-server.ts reads with `filePath`).
 *
 * Rampart side: acmeNodeEnv (validation settings for a node), writeCaFiles,
 * waitForDirectory, checkCertificate (openssl verify) and ocspStatus
 * (openssl ocsp).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { requireCommand } from './debian.js';
import { openssl } from './openssl.js';

// ---------------------------------------------------------------- processes

export interface ClientRun {
  /** The command line, for messages. */
  cmd: string;
  /** Exit code; null when killed by a signal (timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Text for assertion messages: the command, how it ended and its output (last `maxChars` of each stream). */
export function describeRun(r: ClientRun, maxChars = 6000): string {
  const tail = (s: string) => (s.length > maxChars ? `...${s.slice(-maxChars)}` : s);
  const how = r.timedOut ? `timed out after ${r.durationMs} ms (killed)` : r.code !== null ? `exit ${r.code}` : `signal ${r.signal}`;
  return `${r.cmd}\n=> ${how} in ${r.durationMs} ms\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`;
}

const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** Processes started here and still running: killed (with their process group) if the test process exits. */
const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const pid of liveGroups) try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
});

/**
 * Runs `file args` in its own process group with `env` added to ours; on
 * timeout the whole group (the client and e.g. the exec script it started)
 * gets SIGTERM, then SIGKILL two seconds later.
 */
export function runProcess(file: string, args: string[], opts: { env?: Record<string, string>; timeoutMs: number; cwd?: string }): Promise<ClientRun> {
  const started = Date.now();
  const cmd = [file, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd ?? tmpdir(),
      env: { ...process.env, NO_PROXY: '127.0.0.1,localhost,::1', no_proxy: '127.0.0.1,localhost,::1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    const killGroup = (sig: NodeJS.Signals) => {
      if (pid === undefined) return;
      try { process.kill(-pid, sig); } catch { /* already gone */ }
    };
    let hard: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      hard = setTimeout(() => killGroup('SIGKILL'), 2000);
    }, opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      if (pid !== undefined) liveGroups.delete(pid);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (hard) clearTimeout(hard);
      // Whatever the client left behind in its group (it should be nothing) goes too.
      killGroup('SIGKILL');
      if (pid !== undefined) liveGroups.delete(pid);
      resolve({ cmd, code, signal, timedOut, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

function newTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

// ---------------------------------------------------------------- dns-01 records file

/** Reads the TXT records file written by the exec script (empty when missing). */
export function readTxtRecords(file: string): Record<string, string[]> {
  if (!existsSync(file)) return {};
  const text = readFileSync(file, 'utf8').trim();
  return text ? JSON.parse(text) as Record<string, string[]> : {};
}

/**
 * Writes `<dir>/lego-dns-exec.sh` (and the Node script it runs): lego's exec
 * provider calls it as `present|cleanup <fqdn> <value>`; it adds or removes
 * the value under the lower-case name without the trailing dot in
 * `recordsFile`, under an exclusive lock (flock), replacing the file
 * atomically (write + rename) so a reader never sees half a file. Every call
 * is appended to `<dir>/lego-dns-exec.log`. Returns the script's path.
 */
export function writeDnsExecScript(dir: string, recordsFile: string): string {
  mkdirSync(dir, { recursive: true });
  const js = join(dir, 'lego-dns-exec.mjs');
  const sh = join(dir, 'lego-dns-exec.sh');
  const log = join(dir, 'lego-dns-exec.log');
  writeFileSync(js, `// Generated by test/helpers/acme-clients.ts: lego exec provider -> JSON TXT records file.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
const [action, fqdn, value] = process.argv.slice(2);
const file = ${JSON.stringify(recordsFile)};
appendFileSync(${JSON.stringify(log)}, JSON.stringify({ at: new Date().toISOString(), action, fqdn, value }) + '\\n');
if ((action !== 'present' && action !== 'cleanup') || !fqdn || !value) {
  if (action === 'timeout') { console.log(JSON.stringify({ timeout: 60, interval: 1 })); process.exit(0); }
  console.error('usage: present|cleanup <fqdn> <value>');
  process.exit(2);
}
const name = fqdn.toLowerCase().replace(/\\.$/, '');
let records = {};
if (existsSync(file)) { const t = readFileSync(file, 'utf8').trim(); if (t) records = JSON.parse(t); }
const values = new Set(records[name] ?? []);
if (action === 'present') values.add(value); else values.delete(value);
if (values.size > 0) records[name] = [...values]; else delete records[name];
const tmp = file + '.' + process.pid + '.tmp';
writeFileSync(tmp, JSON.stringify(records, null, 2) + '\\n');
renameSync(tmp, file);
`);
  writeFileSync(sh, `#!/bin/sh
# Generated by test/helpers/acme-clients.ts for lego's exec DNS provider.
exec ${quote('/usr/bin/flock')} ${quote(`${recordsFile}.lock`)} ${quote(process.execPath)} ${quote(js)} "$@"
`);
  chmodSync(sh, 0o755);
  return sh;
}

// ---------------------------------------------------------------- lego

export type LegoChallenge =
  /** http-01: lego's own server on 127.0.0.1:port. */
  | { type: 'http'; port: number }
  /** tls-alpn-01: lego's own server on 127.0.0.1:port. */
  | { type: 'tls'; port: number }
  /** dns-01 through the exec provider writing `recordsFile`; lego checks the TXT record at `resolver` (host:port). */
  | { type: 'dns'; resolver: string; recordsFile: string };

export interface LegoOptions {
  /** ACME directory URL. */
  server: string;
  /** PEM file of the CA(s) that issued the ACME server's TLS certificate (LEGO_CA_CERTIFICATES). */
  caBundle: string;
  domains: string[];
  command: 'run' | 'renew' | 'revoke';
  challenge: LegoChallenge;
  /** lego's --path (account, certificates); a new temp dir when missing. Reuse it for renew and revoke. */
  path?: string;
  email?: string;
  /** --key-type of the certificate key (default ec256). */
  keyType?: 'ec256' | 'ec384' | 'rsa2048' | 'rsa4096' | 'rsa8192';
  eab?: { kid: string; hmac: string };
  /** renew: --days (renew when fewer days are left; default 36500, i.e. always). */
  renewDays?: number;
  /** revoke: --reason (RFC 5280 code, default 0). */
  reason?: number;
  /** revoke: keep the certificate files in place (--keep; default true, so their paths stay valid). */
  keep?: boolean;
  /** Arguments added after the command (e.g. ['--no-bundle']). */
  commandArgs?: string[];
  /** Global arguments added before the command. */
  globalArgs?: string[];
  env?: Record<string, string>;
  /** Default 180 s. */
  timeoutMs?: number;
}

export interface LegoFiles {
  /** <path>/certificates/<domain>.crt: the certificate followed by its issuers (unless --no-bundle). */
  cert: string;
  /** <path>/certificates/<domain>.issuer.crt: the issuer chain. */
  issuer: string;
  key: string;
  /** lego's resource JSON (certUrl, certStableUrl). */
  json: string;
}

export interface LegoRun extends ClientRun {
  path: string;
  files: LegoFiles;
  /** Whether lego's certificate file exists after the run. */
  haveCert: boolean;
}

/** lego's file name for a domain: '*' becomes '_' (lego's sanitizedDomain for ASCII names). */
export function legoFiles(path: string, domain: string): LegoFiles {
  const base = join(path, 'certificates', domain.replace(/\*/g, '_'));
  return { cert: `${base}.crt`, issuer: `${base}.issuer.crt`, key: `${base}.key`, json: `${base}.json` };
}

export function legoBin(): string {
  return requireCommand('lego', 'lego');
}

export async function runLego(o: LegoOptions): Promise<LegoRun> {
  const bin = legoBin();
  if (o.domains.length === 0) throw new Error('runLego: at least one domain');
  const path = o.path ?? newTempDir('rampart-lego-');
  mkdirSync(path, { recursive: true });
  const args = ['--path', path, '--server', o.server, '--accept-tos', '--email', o.email ?? 'acme-test@example.test', '--key-type', o.keyType ?? 'ec256'];
  for (const d of o.domains) args.push('--domains', d);
  if (o.eab) args.push('--eab', '--kid', o.eab.kid, '--hmac', o.eab.hmac);
  const env: Record<string, string> = { LEGO_CA_CERTIFICATES: o.caBundle, ...o.env };
  const c = o.challenge;
  if (c.type === 'http') args.push('--http', '--http.port', `127.0.0.1:${c.port}`);
  else if (c.type === 'tls') args.push('--tls', '--tls.port', `127.0.0.1:${c.port}`);
  else {
    args.push('--dns', 'exec', '--dns.resolvers', c.resolver, '--dns.disable-cp');
    env.EXEC_PATH = writeDnsExecScript(join(path, 'dns-exec'), c.recordsFile);
    env.EXEC_PROPAGATION_TIMEOUT ??= '60';
    env.EXEC_POLLING_INTERVAL ??= '1';
    // The exec provider solves domains one after the other, waiting this long in between (default 60 s).
    env.EXEC_SEQUENCE_INTERVAL ??= '1';
  }
  args.push(...(o.globalArgs ?? []), o.command);
  // Renew whatever the remaining lifetime (pebble issues for 5 years, hence more than 999 days).
  if (o.command === 'renew') args.push('--days', String(o.renewDays ?? 36_500), '--no-random-sleep');
  if (o.command === 'revoke') {
    if (o.keep !== false) args.push('--keep');
    if (o.reason !== undefined) args.push('--reason', String(o.reason));
  }
  args.push(...(o.commandArgs ?? []));
  const r = await runProcess(bin, args, { env, timeoutMs: o.timeoutMs ?? 180_000 });
  const files = legoFiles(path, o.domains[0]!);
  return { ...r, path, files, haveCert: existsSync(files.cert) };
}

// ---------------------------------------------------------------- certbot

export interface CertbotDirs { config: string; work: string; logs: string }

export interface CertbotFiles {
  /** <config>/live/<name>/cert.pem, chain.pem, fullchain.pem, privkey.pem */
  cert: string;
  chain: string;
  fullchain: string;
  key: string;
}

export interface CertbotRun extends ClientRun {
  dirs: CertbotDirs;
  files: CertbotFiles;
  haveCert: boolean;
  /** certbot's own log (<logs>/letsencrypt.log), for diagnosis. */
  log: () => string;
}

export interface CertbotCommon {
  server: string;
  /** PEM file of the CA(s) that issued the ACME server's TLS certificate (REQUESTS_CA_BUNDLE). */
  caBundle: string;
  /** certbot's config/work/logs directories under this one (a new temp dir when missing). Reuse it for revoke. */
  baseDir?: string;
  env?: Record<string, string>;
  extraArgs?: string[];
  /** Default 180 s. */
  timeoutMs?: number;
}

export interface CertbotCertonlyOptions extends CertbotCommon {
  domains: string[];
  /** Port certbot's standalone http-01 server listens on (on 127.0.0.1). */
  httpPort: number;
  /** --key-type (certbot 2.x default: ecdsa). */
  keyType?: 'ecdsa' | 'rsa';
  /** --cert-name (default: the first domain). */
  certName?: string;
  eab?: { kid: string; hmac: string };
}

export interface CertbotRevokeOptions extends CertbotCommon {
  certPath: string;
  /** --key-path: revoke with the certificate's key instead of the account key. */
  keyPath?: string;
  reason?: 'unspecified' | 'keycompromise' | 'affiliationchanged' | 'superseded' | 'cessationofoperation';
}

export function certbotBin(): string {
  return requireCommand('certbot', 'certbot');
}

function certbotDirs(baseDir: string): CertbotDirs {
  const d = { config: join(baseDir, 'config'), work: join(baseDir, 'work'), logs: join(baseDir, 'logs') };
  for (const p of Object.values(d)) mkdirSync(p, { recursive: true });
  return d;
}

async function certbot(o: CertbotCommon, sub: string[], live: (config: string) => string): Promise<CertbotRun> {
  const bin = certbotBin();
  const dirs = certbotDirs(o.baseDir ?? newTempDir('rampart-certbot-'));
  const args = [...sub, '--server', o.server, '--non-interactive', '--config-dir', dirs.config, '--work-dir', dirs.work, '--logs-dir', dirs.logs, ...(o.extraArgs ?? [])];
  const r = await runProcess(bin, args, { env: { REQUESTS_CA_BUNDLE: o.caBundle, ...o.env }, timeoutMs: o.timeoutMs ?? 180_000 });
  const dir = live(dirs.config);
  const files = { cert: join(dir, 'cert.pem'), chain: join(dir, 'chain.pem'), fullchain: join(dir, 'fullchain.pem'), key: join(dir, 'privkey.pem') };
  const logFile = join(dirs.logs, 'letsencrypt.log');
  return { ...r, dirs, files, haveCert: existsSync(files.cert), log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') };
}

/** `certbot certonly --standalone` on 127.0.0.1:httpPort. */
export function runCertbot(o: CertbotCertonlyOptions): Promise<CertbotRun> {
  if (o.domains.length === 0) throw new Error('runCertbot: at least one domain');
  const name = o.certName ?? o.domains[0]!;
  const sub = ['certonly', '--standalone', '--preferred-challenges', 'http-01', '--http-01-port', String(o.httpPort), '--http-01-address', '127.0.0.1',
    '--agree-tos', '--register-unsafely-without-email', '--cert-name', name, '--key-type', o.keyType ?? 'ecdsa'];
  if (o.eab) sub.push('--eab-kid', o.eab.kid, '--eab-hmac-key', o.eab.hmac);
  for (const d of o.domains) sub.push('-d', d);
  return certbot(o, sub, (config) => join(config, 'live', name));
}

/** `certbot revoke --cert-path ...` (with the account key unless keyPath), never deleting the files. */
export function runCertbotRevoke(o: CertbotRevokeOptions): Promise<CertbotRun> {
  const sub = ['revoke', '--cert-path', o.certPath, '--no-delete-after-revoke', '--reason', o.reason ?? 'unspecified'];
  if (o.keyPath) sub.push('--key-path', o.keyPath);
  return certbot(o, sub, () => dirname(o.certPath));
}

// ---------------------------------------------------------------- misc

/** Removes directories the helpers made; safe on undefined and missing paths. */
export function removeAll(...dirs: Array<string | undefined>): void {
  for (const d of dirs) if (d) rmSync(d, { recursive: true, force: true });
}

/** The PEM certificates in a file or string, in order. */
export function pemCertificates(pemOrFile: string): string[] {
  const text = pemOrFile.includes('-----BEGIN') ? pemOrFile : readFileSync(pemOrFile, 'utf8');
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}

// ---------------------------------------------------------------- Rampart side

/**
 * Environment for a Rampart node whose ACME validation reaches the test
 * clients on loopback: http-01 and tls-alpn-01 connect to 127.0.0.1 on the
 * given ports, dns-01 asks the test DNS server.
 */
export function acmeNodeEnv(o: { httpPort: number; tlsPort: number; dnsResolver?: string; baseUrl?: string; extra?: Record<string, string> }): Record<string, string> {
  return {
    RAMPART_ACME__ENABLED: 'true',
    RAMPART_ACME__VALIDATION__CONNECT_ADDRESS: '127.0.0.1',
    RAMPART_ACME__VALIDATION__HTTP_PORT: String(o.httpPort),
    RAMPART_ACME__VALIDATION__TLS_PORT: String(o.tlsPort),
    ...(o.dnsResolver ? { RAMPART_ACME__VALIDATION__DNS_RESOLVERS: JSON.stringify([o.dnsResolver]) } : {}),
    ...(o.baseUrl ? { RAMPART_ACME__BASE_URL: o.baseUrl } : {}),
    ...o.extra,
  };
}

/**
 * Fetches the node's CA certificates (GET <httpUrl>/ca/bundle.pem) and writes
 * `<dir>/bundle.pem` (every CA certificate: the trust file for the clients)
 * and `<dir>/root.pem` (the self-signed ones only: the -CAfile of openssl).
 */
export async function writeCaFiles(httpUrl: string, dir: string): Promise<{ bundle: string; root: string }> {
  const r = await fetch(`${httpUrl}/ca/bundle.pem`);
  if (r.status !== 200) throw new Error(`GET ${httpUrl}/ca/bundle.pem answered ${r.status}`);
  const certs = pemCertificates(await r.text());
  const roots = certs.filter((pem) => {
    const c = new X509Certificate(pem);
    return c.subject === c.issuer && c.verify(c.publicKey);
  });
  if (roots.length === 0) throw new Error(`no self-signed certificate in ${httpUrl}/ca/bundle.pem`);
  const bundle = join(dir, 'bundle.pem');
  const root = join(dir, 'root.pem');
  writeFileSync(bundle, certs.join(''));
  writeFileSync(root, roots.join(''));
  return { bundle, root };
}

/** Waits until GET <url> (the ACME directory) answers 200 with a newOrder URL; returns the directory. */
export async function waitForDirectory(url: string, ca: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const { request } = await import('node:https');
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(url, { ca: readFileSync(ca, 'utf8'), timeout: 5000, agent: false }, (m) => {
          let b = '';
          m.on('data', (d: Buffer) => { b += d.toString(); });
          m.on('end', () => resolve({ status: m.statusCode ?? 0, body: b }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
      if (res.status === 200) {
        const dir = JSON.parse(res.body) as Record<string, unknown>;
        if (typeof dir.newOrder === 'string') return dir;
      }
      last = `${res.status} ${res.body.slice(0, 300)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`ACME directory ${url} did not answer within ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface CertCheck {
  serial: string;
  /** DNS names in the subjectAltName extension, lower case, sorted. */
  dnsNames: string[];
  /** `openssl verify` output. */
  verify: string;
  /** The issuing CA certificate (first certificate of the chain file), written next to the certificate. */
  issuerFile: string;
  /** OCSP responder URL from the certificate's AIA. */
  ocspUrl: string;
}

/**
 * Checks a certificate the way a relying party would, with the real openssl:
 * `openssl verify -CAfile <root> -untrusted <chain> <cert>` must say OK.
 * Throws with openssl's output otherwise.
 */
export function checkCertificate(certFile: string, chainFile: string, rootFile: string): CertCheck {
  const v = openssl(['verify', '-CAfile', rootFile, '-untrusted', chainFile, certFile]);
  if (v.code !== 0 || !/: OK\s*$/.test(v.out.trim())) throw new Error(`openssl verify -CAfile ${rootFile} -untrusted ${chainFile} ${certFile} failed (${v.code}):\n${v.out}`);
  const leaf = new X509Certificate(readFileSync(certFile));
  const dnsNames = (leaf.subjectAltName ?? '').split(/,\s*/).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase()).sort();
  const issuer = pemCertificates(chainFile).find((pem) => leaf.checkIssued(new X509Certificate(pem)));
  if (!issuer) throw new Error(`no certificate in ${chainFile} issued ${certFile}`);
  const issuerFile = `${certFile}.issuer-ca.pem`;
  writeFileSync(issuerFile, issuer);
  const ocspUrl = openssl(['x509', '-in', certFile, '-noout', '-ocsp_uri']).out.trim();
  return { serial: leaf.serialNumber.toLowerCase(), dnsNames, verify: v.out.trim(), issuerFile, ocspUrl };
}

/**
 * Asks an OCSP responder with `openssl ocsp` (nonce included) and returns the
 * certificate status openssl reports ('good', 'revoked', 'unknown') and its
 * whole output. Throws when openssl cannot verify the response.
 */
export function ocspStatus(o: { url: string; certFile: string; issuerFile: string; rootFile: string }): { status: string; out: string } {
  const r = openssl(['ocsp', '-issuer', o.issuerFile, '-cert', o.certFile, '-url', o.url, '-CAfile', o.rootFile, '-resp_text', '-timeout', '20']);
  if (r.code !== 0 || !/Response verify OK/.test(r.out)) throw new Error(`openssl ocsp -url ${o.url} failed (${r.code}):\n${r.out}`);
  const m = new RegExp(`${o.certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\w+)`).exec(r.out);
  return { status: m ? m[1]! : 'unparsed', out: r.out };
}
