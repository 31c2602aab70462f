/**
 * `rampart root`: the offline root ceremony, on a host that is not a node
 * (no database, no data directory): init, sign an intermediate CSR into the
 * bundle `rampart ca import` takes, revoke an intermediate, produce the root
 * CRL, show the root and its ceremony log. See docs/runbooks/offline-root.md.
 */
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { formatCaBundle } from '../../ca/ca-bundle.js';
import { OFFLINE_ROOT_FILES, OfflineRoot } from '../../ca/offline-root.js';
import { fingerprint } from '../../http/servers.js';
import { alg } from '../option-parsers.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../keys/key-backend.js';
import { loadKeySecret } from '../../keys/node-secret.js';
import { toPem } from '../../pki/certificate-builder.js';
import { reasonFromName, reasonName } from '../../pki/revocation-reasons.js';
import { out, type GlobalOptions } from '../context.js';

const PASSPHRASE_ENV = 'RAMPART_KEY_PASSPHRASE';

function int(min: number, max: number, what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${what} must be a whole number from ${min} to ${max} (got "${v}")`);
    return n;
  };
}

function actor(): string {
  let user = 'unknown';
  try { user = userInfo().username; } catch { /* no passwd entry */ }
  return `cli:${user}@${hostname()}`;
}

/** The sealing secret: RAMPART_KEY_PASSPHRASE, else the key file in the offline directory (created by init). */
function secretFor(dir: string, create: boolean): { secret: Uint8Array; source: string } {
  return loadKeySecret({ passphraseEnv: PASSPHRASE_ENV, keyFile: join(dir, OFFLINE_ROOT_FILES.secret), env: process.env, create });
}

async function openRoot(dirOpt: string): Promise<OfflineRoot> {
  const dir = resolve(dirOpt);
  OfflineRoot.checkNotNodeDataDir(dir);
  return OfflineRoot.open(dir, secretFor(dir, false).secret);
}

function writeOut(file: string, der: Uint8Array, label: string): void {
  writeFileSync(file, /\.(pem|crt)$/.test(file) ? toPem(der, label) : Buffer.from(der));
}

export function registerRoot(program: Command, g: () => GlobalOptions): void {
  const root = program.command('root').description('an offline root CA in a directory off the online nodes: init, sign intermediates, revoke, CRL');

  root.command('init')
    .description('create the root key (sealed) and self-signed certificate in --dir')
    .requiredOption('--dir <dir>', 'offline root directory (not a node data directory)')
    .option('--subject <dn>', 'root subject DN', 'CN=Rampart Offline Root CA, O=Rampart')
    .option('--algorithm <alg>', `root key algorithm (${KEY_ALGORITHMS.join(', ')})`, alg, 'ecdsa-p384' as KeyAlgorithm)
    .option('--days <n>', 'root validity in days', int(1, 9125, 'validity'), 7300)
    .option('--public-base-url <url>', 'base URL of the online nodes, where the root certificate and CRL are published (can also be given at the first sign)')
    .action(async (o: { dir: string; subject: string; algorithm: KeyAlgorithm; days: number; publicBaseUrl?: string }) => {
      const dir = resolve(o.dir);
      if (OfflineRoot.exists(dir)) throw new Error(`${dir} already holds an offline root; refusing to replace it`);
      OfflineRoot.checkNotNodeDataDir(dir);
      const { secret, source } = secretFor(dir, true);
      const r = await OfflineRoot.init({ dir, secret, subject: o.subject, algorithm: o.algorithm, validityDays: o.days, publicBaseUrl: o.publicBaseUrl, actor: actor() });
      const view = {
        dir, rootId: r.id, subject: r.subject, notAfter: r.notAfter.toISOString(), fingerprintSha256: fingerprint(r.certDer),
        certificate: join(dir, OFFLINE_ROOT_FILES.cert), keySealedWith: source, publicBaseUrl: r.publicBaseUrl,
      };
      out(g(), view, () => [
        `Offline root created in ${dir}`,
        `  root:         ${r.subject} (${r.id}), until ${view.notAfter}`,
        `  fingerprint:  SHA256 ${view.fingerprintSha256}`,
        `  certificate:  ${view.certificate} (distribute it as the trust anchor)`,
        `  key sealed with ${source}${source.startsWith('key file') ? ': the secret lies next to the key; keep the directory offline or use RAMPART_KEY_PASSPHRASE' : ''}`,
      ].join('\n'));
    });

  root.command('sign')
    .description('sign an intermediate CA CSR (from `rampart ca request`) and write the bundle for `rampart ca import`')
    .requiredOption('--dir <dir>', 'offline root directory')
    .requiredOption('--csr <file>', 'the intermediate\'s CSR (PEM or DER)')
    .requiredOption('--out <file>', 'where to write the bundle (PEM: intermediate, root, root CRL)')
    .option('--days <n>', 'intermediate validity in days', int(1, 9125, 'validity'), 1825)
    .option('--path-len <n>', 'basicConstraints pathLen of the intermediate', int(0, 8, 'path length'), 0)
    .option('--public-base-url <url>', 'base URL of the online nodes (AIA caIssuers and CRL distribution point); fixed by its first use')
    .option('--crl-days <n>', 'validity of the root CRL put in the bundle', int(1, 366, 'CRL validity'), 90)
    .option('--no-crl', 'do not put a fresh root CRL in the bundle')
    .action(async (o: { dir: string; csr: string; out: string; days: number; pathLen: number; publicBaseUrl?: string; crlDays: number; crl: boolean }) => {
      const r = await openRoot(o.dir);
      const signed = await r.signIntermediate({ csr: readFileSync(o.csr), validityDays: o.days, pathLen: o.pathLen, publicBaseUrl: o.publicBaseUrl, actor: actor() });
      const crl = o.crl ? await r.crl({ validityDays: o.crlDays, actor: actor() }) : null;
      writeFileSync(o.out, formatCaBundle({ intermediateDer: signed.der, rootDer: r.certDer, ...(crl ? { rootCrlDer: crl.der } : {}) }));
      const view = {
        bundle: resolve(o.out), serial: signed.serial, subject: signed.subject, notBefore: signed.notBefore.toISOString(), notAfter: signed.notAfter.toISOString(),
        pathLen: o.pathLen, root: r.id, rootCrl: crl ? { number: crl.number.toString(), nextUpdate: crl.nextUpdate.toISOString() } : null, crlUrl: r.crlUrl(),
      };
      out(g(), view, () => [
        `Signed ${signed.subject} (serial ${signed.serial}), ${view.notBefore} to ${view.notAfter}, pathLen ${o.pathLen}`,
        `  bundle: ${view.bundle}${crl ? ` (with root CRL #${crl.number}, next update ${view.rootCrl!.nextUpdate})` : ''}`,
        r.crlUrl() ? `  root CRL is published by the nodes at ${r.crlUrl()}` : '  no --public-base-url: the certificate carries no AIA or CRL distribution point',
        '  next: `rampart ca import --bundle BUNDLE` on the node that made the request',
      ].join('\n'));
    });

  root.command('revoke')
    .description('revoke an intermediate this root signed; it is listed on the next `rampart root crl`')
    .requiredOption('--dir <dir>', 'offline root directory')
    .requiredOption('--serial <hex>', 'serial number of the intermediate')
    .option('--reason <reason>', 'RFC 5280 reason (keyCompromise, cACompromise, superseded, cessationOfOperation, ...)', 'unspecified')
    .action(async (o: { dir: string; serial: string; reason: string }) => {
      const reason = reasonFromName(o.reason);
      if (reason === null) throw new Error(`unknown revocation reason "${o.reason}"`);
      const r = await openRoot(o.dir);
      const rec = r.revoke({ serial: o.serial, reason, actor: actor() });
      out(g(), { ...rec, reasonName: reasonName(rec.reason) }, () => `Revoked ${rec.subject} (serial ${rec.serial}, ${reasonName(rec.reason)}): produce and publish a new CRL (\`rampart root crl\`, then \`rampart ca import-crl\`)`);
    });

  root.command('crl')
    .description('produce the root CRL, to publish on the nodes with `rampart ca import-crl`')
    .requiredOption('--dir <dir>', 'offline root directory')
    .requiredOption('--out <file>', 'where to write the CRL (DER; PEM when the name ends in .pem)')
    .option('--days <n>', 'CRL validity (nextUpdate) in days', int(1, 366, 'CRL validity'), 90)
    .action(async (o: { dir: string; out: string; days: number }) => {
      const r = await openRoot(o.dir);
      const crl = await r.crl({ validityDays: o.days, actor: actor() });
      writeOut(o.out, crl.der, 'X509 CRL');
      const view = { file: resolve(o.out), number: crl.number.toString(), entries: crl.entries, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString(), url: r.crlUrl() };
      out(g(), view, () => `Root CRL #${view.number} (${view.entries} entries), next update ${view.nextUpdate}, written to ${view.file}; publish with \`rampart ca import-crl --crl FILE\``);
    });

  root.command('show')
    .description('the root, what it signed and revoked, and whether its ceremony log verifies')
    .requiredOption('--dir <dir>', 'offline root directory')
    .action(async (o: { dir: string }) => {
      const r = await openRoot(o.dir);
      const log = r.log.verify();
      const view = {
        rootId: r.id, subject: r.subject, notAfter: r.notAfter.toISOString(), fingerprintSha256: fingerprint(r.certDer), publicBaseUrl: r.publicBaseUrl,
        lastCrlNumber: r.lastCrlNumber.toString(), signed: r.signed(), revoked: r.revoked, log,
      };
      out(g(), view, () => [
        `${r.subject} (${r.id}), until ${view.notAfter}, SHA256 ${view.fingerprintSha256}`,
        `  publishes at ${r.publicBaseUrl ?? '(not set)'}; last CRL #${view.lastCrlNumber}`,
        ...view.signed.map((s) => `  signed   ${s.serial}  ${s.subject}  until ${s.notAfter}  (${s.at})${r.revoked.some((x) => x.serial === s.serial) ? '  REVOKED' : ''}`),
        log.ok ? `  ceremony log OK: ${log.entries} entries, head ${log.headHash}` : `  ceremony log BROKEN: ${log.problem}`,
      ].join('\n'));
      if (!log.ok) process.exitCode = 3;
    });
}
