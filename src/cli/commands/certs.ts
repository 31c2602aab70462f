/** `rampart issue`, `revoke`, `certs list`, `certs export`, `certs show`: local operator commands on the node's data. */
import { createPublicKey } from 'node:crypto';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { generateKeyObject } from '../../keys/software/software-backend.js';
import { isKeyAlgorithm } from '../../keys/key-backend.js';
import { toPem } from '../../pki/certificate-builder.js';
import { buildCsr } from '../../pki/csr-builder.js';
import { normalizeSerial } from '../../core/serial.js';
import { certificateView } from '../../http/api/certificate-view.js';
import { EXPORT_FORMATS, exportChunks, type ExportFormat } from '../../http/api/certificate-export.js';
import { MIN_NAME_LENGTH, checkFilter } from '../../storage/inventory-query.js';
import type { CertificateFilter } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import { cliActor, out, withNode, type GlobalOptions } from '../context.js';
import { warnAboutPublicBaseUrl } from './serve.js';

const collect = (v: string, prev: string[]) => [...prev, v];

interface FilterFlags { status?: string; expiring?: number; name?: string; issuer?: string; profile?: string }

/** The inventory filters, for `certs list` and `certs export`. */
function filterOptions(c: Command): Command {
  return c
    .option('--status <status>', 'good, revoked or expired')
    .option('--expiring <days>', 'valid certificates expiring within N days', (v) => Number(v))
    .option('--name <text>', `substring of subject or SAN, any case (at least ${MIN_NAME_LENGTH} characters)`)
    .option('--issuer <id>', 'issuer id')
    .option('--profile <name>', 'certificate profile');
}

function toFilter(o: FilterFlags): CertificateFilter {
  if (o.status && !['good', 'revoked', 'expired'].includes(o.status)) throw new Error('--status must be good, revoked or expired');
  const f: CertificateFilter = {
    status: o.status as CertificateFilter['status'], expiringWithinDays: o.expiring, name: o.name, issuerId: o.issuer, profile: o.profile,
  };
  checkFilter(f);
  return f;
}

export function registerCerts(program: Command, g: () => GlobalOptions): void {
  program.command('issue')
    .description('issue a certificate from a CSR file, or generate a key and issue for --cn/--san')
    .option('--csr <file>', 'PKCS#10 request (PEM or DER)')
    .option('--cn <name>', 'common name (with a generated key)')
    .option('--san <name>', 'subject alternative name: DNS name or IP (repeatable)', collect, [])
    .option('--profile <name>', 'certificate profile', 'server')
    .option('--days <n>', 'validity in days (within the profile maximum)', (v) => Number(v))
    .option('--key-algorithm <alg>', 'algorithm of a generated key', 'ecdsa-p256')
    .option('--out <prefix>', 'write <prefix>.crt, <prefix>.chain.pem (and <prefix>.key for a generated key)')
    .action(async (o: { csr?: string; cn?: string; san: string[]; profile: string; days?: number; keyAlgorithm: string; out?: string }) => {
      if (!o.csr && !o.cn && o.san.length === 0) throw new Error('give --csr FILE, or --cn and/or --san to generate a key');
      let csr: string | Uint8Array;
      let keyPem: string | null = null;
      if (o.csr) {
        csr = readFileSync(o.csr);
      } else {
        if (!isKeyAlgorithm(o.keyAlgorithm)) throw new Error(`unknown key algorithm ${o.keyAlgorithm}`);
        const key = generateKeyObject(o.keyAlgorithm);
        keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
        csr = await buildCsr({ key, publicKey: createPublicKey(key), algorithm: o.keyAlgorithm, cn: o.cn ?? o.san[0]!, sans: o.san.length ? o.san : [o.cn!] });
      }
      const sans = { dns: o.san.filter((s) => !isIP(s)), ip: o.san.filter((s) => isIP(s)) };
      // AIA and CDP come from publicBaseUrl: the configured one, else the one the first serve/init recorded.
      warnAboutPublicBaseUrl(g());
      await withNode(g(), async (node) => {
        const r = await node.issuance.issue({ csr, profile: o.profile, sans, validityDays: o.days }, cliActor());
        const certPem = toPem(r.record.der);
        const chainPem = r.chain.map((c) => toPem(c)).join('');
        if (o.out) {
          writeFileSync(`${o.out}.crt`, certPem);
          writeFileSync(`${o.out}.chain.pem`, certPem + chainPem);
          if (keyPem) writeFileSync(`${o.out}.key`, keyPem, { mode: 0o600 });
        }
        out(g(), { ...certificateView(r.record, node.clock.now(), { pem: true, chain: r.chain }), ...(keyPem && !o.out ? { privateKeyPem: keyPem } : {}) }, () => [
          `Issued ${r.record.serial} for ${r.record.subject} [${r.record.sans.join(', ')}], valid until ${r.record.notAfter.toISOString()}`,
          o.out ? `Wrote ${o.out}.crt, ${o.out}.chain.pem${keyPem ? `, ${o.out}.key` : ''}` : certPem + (keyPem ?? ''),
        ].join('\n'));
      });
    });

  program.command('revoke <serial>')
    .description('revoke a certificate (reason: RFC 5280 name or code)')
    .option('--reason <reason>', 'unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise', 'unspecified')
    .action(async (serial: string, o: { reason: string }) => {
      await withNode(g(), async (node) => {
        const reason = /^\d+$/.test(o.reason) ? Number(o.reason) : o.reason;
        const rec = await node.revocation.revoke(serial, reason, cliActor());
        // Its shard's CRL and the complete CRL at once (a CLI process has no schedule); null when this process may not publish (not the leader).
        const crl = await node.crl.afterRevocation(rec, { complete: true });
        out(g(), certificateView(rec, node.clock.now()), () => `Revoked ${rec.serial} (${o.reason}) at ${rec.revokedAt!.toISOString()}; ${crl ? 'CRL refreshed' : 'the CRL is refreshed by the leader'}`);
      });
    });

  const certs = program.command('certs').description('certificate inventory');
  filterOptions(certs.command('list').description('one page of the inventory (total: the matches as of the first page, counted up to 10,000)'))
    .option('--limit <n>', 'page size', (v) => Number(v), 100)
    .option('--cursor <cursor>', 'continue after this cursor')
    .action(async (o: FilterFlags & { limit: number; cursor?: string }) => {
      await withNode(g(), async (node) => {
        const now = node.clock.now();
        const page = await node.store.listCertificates(toFilter(o), { limit: o.limit, cursor: o.cursor }, now);
        const items = page.items.map((c) => certificateView(c, now));
        out(g(), { items, total: page.total, totalCapped: page.totalCapped === true, nextCursor: page.nextCursor }, () => [
          ...items.map((c) => `${c.serial}  ${c.status.padEnd(7)}  ${c.notAfter}  ${c.subject}  [${c.sans.join(', ')}]`),
          `${items.length} of ${page.total}${page.totalCapped ? '+' : ''}${page.nextCursor ? ` (more: --cursor ${page.nextCursor})` : ''}`,
        ].join('\n'));
      });
    });
  filterOptions(certs.command('export').description('every certificate matching the filters, as NDJSON or CSV (streamed)'))
    .requiredOption('--format <format>', `${EXPORT_FORMATS.join(' or ')}`)
    .option('--pem', 'add each certificate as PEM')
    .option('--output <file>', 'write to this file (default: standard output)')
    .action(async (o: FilterFlags & { format: string; pem?: boolean; output?: string }) => {
      if (!(EXPORT_FORMATS as readonly string[]).includes(o.format)) throw new Error(`--format must be ${EXPORT_FORMATS.join(' or ')} (got "${o.format}")`);
      const filter = toFilter(o);
      await withNode(g(), async (node) => {
        let rows = 0;
        const chunks = exportChunks(node.store, filter, node.clock.now(), o.format as ExportFormat, { pem: o.pem ?? false, onRows: (n) => { rows += n; } });
        // pipeline() waits for the file (or stdout) to drain before pulling the next batch.
        await pipeline(Readable.from(chunks), o.output ? createWriteStream(o.output) : process.stdout, { end: Boolean(o.output) });
        if (o.output) process.stderr.write(`Exported ${rows} certificate(s) to ${o.output}\n`);
      });
    });
  certs.command('show <serial>')
    .option('--pem', 'print the certificate and chain as PEM only')
    .action(async (serialIn: string, o: { pem?: boolean }) => {
      await withNode(g(), async (node) => {
        const serial = normalizeSerial(serialIn);
        const rec = serial ? await node.store.getCertificate(serial) : null;
        if (!rec) throw new RampartError('notFound', `no certificate with serial ${serialIn}`);
        const chain = node.ca.chain(rec.issuerId);
        if (o.pem) { process.stdout.write(toPem(rec.der) + chain.map((c) => toPem(c)).join('')); return; }
        const v = certificateView(rec, node.clock.now(), { pem: true, chain });
        out(g(), v, () => Object.entries(v).filter(([k]) => !k.endsWith('Pem')).map(([k, val]) => `${k.padEnd(16)} ${Array.isArray(val) ? val.join(', ') : String(val)}`).join('\n') + `\n${v.certificatePem}`);
      });
    });
}
