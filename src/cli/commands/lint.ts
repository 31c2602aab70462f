/**
 * `rampart lint FILE…`: lints certificates, CRLs and OCSP responses (PEM,
 * several blocks per file, or DER) with src/pki/lint. Needs no node or data
 * directory. Exit code 1 when any finding is an error, 0 otherwise; 2 when an
 * input cannot be read or is not a certificate, CRL or OCSP response.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { RampartError } from '../../core/errors.js';
import { dnToString } from '../../pki/names.js';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { Name } from '@peculiar/asn1-x509';
import { parseCertificate } from '../../pki/lint/certificate-input.js';
import { parseCrlStructure } from '../../pki/lint/crl-input.js';
import {
  decodeLintObjects, guessProfile, isProfileKind, lintCertificate, lintCrl, lintOcspResponse, PROFILE_KINDS,
  type Finding, type LintObjectKind, type ProfileKind,
} from '../../pki/lint/index.js';
import { out, type GlobalOptions } from '../context.js';

interface LintedObject {
  index: number;
  kind: LintObjectKind;
  subject?: string;
  profile?: ProfileKind;
  br?: boolean;
  findings: Finding[];
}

export function registerLint(program: Command, g: () => GlobalOptions): void {
  program.command('lint <files...>')
    .description('lint certificates, CRLs and OCSP responses (PEM or DER) against RFC 5280, RFC 6960 and the CA/B Forum Baseline Requirements')
    .option('--profile <kind>', `certificate profile: ${PROFILE_KINDS.join(', ')} (default: guessed from each certificate)`)
    .option('--no-br', 'do not apply the Baseline Requirements rules (applied to tls-server certificates by default)')
    .option('--issuer <file>', 'issuer certificate (PEM or DER) for the CRL checks that need it')
    .action((files: string[], o: { profile?: string; br: boolean; issuer?: string }) => {
      if (o.profile !== undefined && !isProfileKind(o.profile)) {
        throw new RampartError('malformed', `unknown profile "${o.profile}": use one of ${PROFILE_KINDS.join(', ')}`);
      }
      const inputs = files.map((file) => ({ file, objects: readObjects(file) }));
      let issuers: Uint8Array[] = [];
      if (o.issuer) {
        issuers = readObjects(o.issuer).filter((x) => x.kind === 'certificate').map((x) => x.der);
        if (issuers.length === 0) throw new RampartError('malformed', `${o.issuer}: no certificate in the --issuer file`);
      }
      // The --issuer certificate whose subject is the CRL's issuer (the first one when none is).
      const issuerOf = (crlDer: Uint8Array) => issuers.find((c) => sameName(parseCertificate(c).tbsCertificate.subject, parseCrlStructure(crlDer).tbsCertList.issuer)) ?? issuers[0];
      const results = inputs.map(({ file, objects }) => ({
        file,
        objects: objects.map((obj, i): LintedObject => {
          if (obj.kind === 'crl') return { index: i + 1, kind: obj.kind, findings: lintCrl(obj.der, issuerOf(obj.der)) };
          if (obj.kind === 'ocsp-response') return { index: i + 1, kind: obj.kind, findings: lintOcspResponse(obj.der) };
          const profile = (o.profile as ProfileKind | undefined) ?? guessProfile(obj.der);
          const br = o.br && profile === 'tls-server';
          const subject = dnToString(parseCertificate(obj.der).tbsCertificate.subject);
          return { index: i + 1, kind: obj.kind, subject, profile, br, findings: lintCertificate(obj.der, { profile, br }) };
        }),
      }));
      const all = results.flatMap((r) => r.objects.flatMap((x) => x.findings));
      const count = (s: Finding['severity']) => all.filter((f) => f.severity === s).length;
      const summary = { errors: count('error'), warnings: count('warn'), notices: count('notice') };
      out(g(), { files: results, ...summary }, () => [
        ...results.flatMap((r) => r.objects.flatMap((x) => [
          `${r.file}${r.objects.length > 1 ? ` #${x.index}` : ''}: ${x.kind}${x.subject !== undefined ? ` "${x.subject}"` : ''}${x.profile ? ` (profile ${x.profile}${x.br ? ', BR rules' : ''})` : ''}: ${x.findings.length === 0 ? 'no findings' : `${x.findings.length} finding(s)`}`,
          ...x.findings.map((f) => `  ${f.severity.padEnd(6)} ${f.id}  ${f.message}  [${f.citation}]`),
        ])),
        `${summary.errors} error(s), ${summary.warnings} warning(s), ${summary.notices} notice(s)`,
      ].join('\n'));
      if (summary.errors > 0) process.exitCode = 1;
    });
}

const sameName = (a: Name, b: Name) => Buffer.from(AsnConvert.serialize(a)).equals(Buffer.from(AsnConvert.serialize(b)));

function readObjects(file: string) {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new RampartError('malformed', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return decodeLintObjects(bytes);
  } catch (e) {
    throw new RampartError('malformed', `${file}: ${(e as Error).message}`);
  }
}
