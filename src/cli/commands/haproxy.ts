/**
 * `rampart haproxy-config`: writes an HAProxy configuration balancing over the
 * cluster's nodes (given with --node, else those registered in the database),
 * and, unless --ca-file names one, the root CA file HAProxy verifies them with.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  DEFAULT_BALANCE, DEFAULT_CHECK, HAPROXY_BALANCES, HAPROXY_MODES, nodeFromUrls, renderHaproxyConfig,
  type HaproxyBalance, type HaproxyMode, type HaproxyNode,
} from '../../cluster/haproxy-config.js';
import { toPem } from '../../pki/certificate-builder.js';
import { loadCliConfig, out, withNode, type GlobalOptions } from '../context.js';

interface HaproxyCliOptions {
  node: string[];
  bindHttp: string;
  bindHttps: string;
  bindEst?: string;
  tlsCert?: string;
  caFile?: string;
  interval?: string;
  timeout?: string;
  fall?: string;
  rise?: string;
  mode?: string;
  balance?: string;
  statsBind?: string;
  statsSocket?: string;
  maxconn?: string;
  validationMirror?: string;
  validationMirrorPath?: string;
  out?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];
export const DEFAULT_CA_FILE_NAME = 'rampart-root-ca.pem';

/** 'name=http://host:port,https://host:port' (the two URLs in either order). */
export function parseNodeOption(spec: string): HaproxyNode {
  const usage = `--node "${spec}": expected name=http://host:port,https://host:port`;
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(usage);
  const name = spec.slice(0, eq).trim();
  const urls = spec.slice(eq + 1).split(',').map((s) => s.trim()).filter(Boolean);
  const http = urls.filter((u) => /^http:\/\//i.test(u));
  const https = urls.filter((u) => /^https:\/\//i.test(u));
  if (urls.length !== 2 || http.length !== 1 || https.length !== 1) throw new Error(usage);
  return nodeFromUrls(name, http[0]!, https[0]!);
}

/** Milliseconds from '2000', '2000ms' or '2s'. */
export function parseDurationMs(v: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
  const ms = m ? Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1)) : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`${what} must be a duration such as 2000, 500ms or 2s (got "${v}")`);
  return ms;
}

/** The --balance value: leastconn or roundrobin. */
export function parseBalance(v: string): HaproxyBalance {
  if (!HAPROXY_BALANCES.includes(v as HaproxyBalance)) throw new Error(`--balance must be ${HAPROXY_BALANCES.join(' or ')} (got "${v}")`);
  return v as HaproxyBalance;
}

function parseCount(v: string, what: string): number {
  if (!/^\d{1,6}$/.test(v.trim())) throw new Error(`${what} must be a positive integer (got "${v}")`);
  return Number(v);
}

function readPem(file: string, what: string): string {
  if (!existsSync(file)) throw new Error(`${what} ${file} does not exist`);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${what} ${file} cannot be read: ${(e as Error).message}`);
  }
}

function checkTlsCert(file: string): void {
  const pem = readPem(file, '--tls-cert');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--tls-cert ${file} holds no certificate: it must be one PEM file with the certificate, its chain and the private key`);
  if (pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) throw new Error(`--tls-cert ${file}: the private key is encrypted; HAProxy needs it unencrypted`);
  if (!/-----BEGIN (?:EC |RSA )?PRIVATE KEY-----/.test(pem)) throw new Error(`--tls-cert ${file} holds no private key: append the key to the certificate chain (cat cert.chain.pem cert.key > ${file})`);
}

function configuredMode(g: GlobalOptions): HaproxyMode | undefined {
  try {
    const mode = (loadCliConfig(g) as unknown as { cluster?: { mode?: string } }).cluster?.mode;
    return mode === 'active-passive' || mode === 'active-active' ? mode : undefined;
  } catch {
    return undefined; // only a default: --mode settles it
  }
}

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

export function registerHaproxy(program: Command, g: () => GlobalOptions): void {
  program.command('haproxy-config')
    .description('write an HAProxy configuration for the cluster: plain HTTP validation (OCSP, CRLs) and the HTTPS API and ACME, with health checks and retries')
    .option('--node <spec>', 'a node as name=http://host:port,https://host:port (repeatable; default: the nodes registered in the database)', collect, [])
    .option('--bind-http <host:port>', 'validation frontend (plain HTTP)', '*:80')
    .option('--bind-https <host:port>', 'API frontend (TLS)', '*:443')
    .option('--bind-est <host:port>', 'EST frontend (RFC 7030): TCP mode, TLS passed through to the nodes so that client certificates reach them (default: none)')
    .option('--tls-cert <file>', 'PEM with the API frontend certificate, its chain and its unencrypted private key')
    .option('--ca-file <file>', `root CA to verify the nodes' HTTPS certificates (default: the data dir's root CA, written to ${DEFAULT_CA_FILE_NAME} next to --out)`)
    .option('--interval <duration>', `health check interval, e.g. 2s or 500ms (default ${DEFAULT_CHECK.intervalMs}ms)`)
    .option('--timeout <duration>', `health check timeout (default ${DEFAULT_CHECK.timeoutMs}ms)`)
    .option('--fall <n>', `failed checks before a node is taken out (default ${DEFAULT_CHECK.fall})`)
    .option('--rise <n>', `passed checks before a node is put back (default ${DEFAULT_CHECK.rise})`)
    .option('--mode <mode>', `${HAPROXY_MODES.join(' or ')} (default: cluster.mode of the configuration, else active-active)`)
    .option('--balance <algorithm>', `issuance backend (REST API and ACME): ${HAPROXY_BALANCES.join(' or ')}; every request is balanced on its own (default ${DEFAULT_BALANCE})`)
    .option('--stats-bind <host:port>', 'stats page with admin actions, loopback only (default: none)')
    .option('--stats-socket <file>', 'admin stats socket (default: none)')
    .option('--maxconn <n>', 'concurrent requests per node before HAProxy queues (default 200)')
    .option('--validation-mirror <host:port>', 'a static web server over the leader\'s mirror.directory: validation goes there while no node is up (default: none)')
    .option('--validation-mirror-path <path>', 'where that server has the copy, e.g. /<bucket>/<prefix> for a path-style S3 endpoint serving mirror.s3 (default: its root)')
    .option('--out <file>', 'write the configuration here (default: stdout)')
    .action(async (o: HaproxyCliOptions) => {
      if (!o.tlsCert) throw new Error('--tls-cert FILE is required: the API frontend terminates TLS with it (certificate, chain and key in one PEM)');
      if (o.mode !== undefined && !HAPROXY_MODES.includes(o.mode as HaproxyMode)) throw new Error(`--mode must be ${HAPROXY_MODES.join(' or ')} (got "${o.mode}")`);
      const balance = o.balance !== undefined ? parseBalance(o.balance) : DEFAULT_BALANCE;
      const nodes = o.node.map(parseNodeOption);
      const check = {
        intervalMs: o.interval !== undefined ? parseDurationMs(o.interval, '--interval') : undefined,
        timeoutMs: o.timeout !== undefined ? parseDurationMs(o.timeout, '--timeout') : undefined,
        fall: o.fall !== undefined ? parseCount(o.fall, '--fall') : undefined,
        rise: o.rise !== undefined ? parseCount(o.rise, '--rise') : undefined,
      };
      const outFile = o.out ? resolve(o.out) : undefined;
      const tlsCertFile = resolve(o.tlsCert);
      checkTlsCert(tlsCertFile);
      const caFile = o.caFile ? resolve(o.caFile) : join(outFile ? dirname(outFile) : process.cwd(), DEFAULT_CA_FILE_NAME);
      if (o.caFile && !readPem(caFile, '--ca-file').includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--ca-file ${caFile} holds no PEM certificate`);
      const mode = (o.mode as HaproxyMode | undefined) ?? configuredMode(g()) ?? 'active-active';
      const base = {
        bindHttp: o.bindHttp, bindHttps: o.bindHttps, bindEst: o.bindEst, tlsCertFile, caFile, check, mode, balance,
        statsBind: o.statsBind, statsSocket: o.statsSocket ? resolve(o.statsSocket) : undefined,
        maxconnPerServer: o.maxconn !== undefined ? parseCount(o.maxconn, '--maxconn') : undefined,
        validationMirror: o.validationMirror,
        ...(o.validationMirrorPath ? { validationMirrorPath: o.validationMirrorPath } : {}),
      };
      // Validate everything we were given before touching the data dir.
      if (nodes.length > 0) renderHaproxyConfig({ ...base, nodes });
      let rootPem: string | null = null;
      if (nodes.length === 0 || !o.caFile) {
        await withNode(g(), async (node) => {
          if (nodes.length === 0) {
            const registered = await node.store.listNodes();
            if (registered.length === 0) {
              throw new Error(`no nodes are registered in the database of ${node.paths.dataDir} (nodes register when cluster.mode is active-active or active-passive): give them with --node name=http://host:port,https://host:port`);
            }
            nodes.push(...registered.sort((a, b) => a.id.localeCompare(b.id)).map((n) => nodeFromUrls(n.id, n.httpUrl, n.httpsUrl)));
          }
          if (!o.caFile) {
            const root = node.ca.root();
            if (!root) throw new Error(`the data dir ${node.paths.dataDir} has no root CA yet: run the node once, or give --ca-file`);
            rootPem = toPem(root.certDer);
          }
        });
      }
      const text = renderHaproxyConfig({ ...base, nodes });
      if (rootPem) writeAtomically(caFile, rootPem);
      if (outFile) writeAtomically(outFile, text);
      else process.stdout.write(text);
      const summary = { out: outFile ?? null, caFile, caFileWritten: rootPem !== null, mode, balance, nodes: nodes.map((n) => n.name) };
      const human = (): string => [
        outFile ? `Wrote ${outFile} (${mode}, issuance balance ${balance}; nodes: ${summary.nodes.join(', ')})` : '',
        rootPem ? `Wrote the root CA to ${caFile}` : '',
        outFile ? `Check it with: haproxy -c -f ${outFile}` : '',
      ].filter(Boolean).join('\n');
      if (outFile) out(g(), summary, human);
      else if (rootPem) process.stderr.write(`${human()}\n`);
    });
}
