/**
 * Turning bytes into things to lint: PEM (any number of CERTIFICATE,
 * X509 CRL and OCSP RESPONSE blocks; other blocks such as keys are skipped)
 * or one DER object, recognised by which structure it parses as.
 */
import { AsnParser } from '@peculiar/asn1-schema';
import * as ocsp from '@peculiar/asn1-ocsp';
import { parseCertificate } from './certificate-input.js';
import { parseCrlStructure } from './crl-input.js';
import { LintDecodeError } from './types.js';

export type LintObjectKind = 'certificate' | 'crl' | 'ocsp-response';

export interface LintObject {
  kind: LintObjectKind;
  der: Uint8Array;
}

const PEM_LABELS: Record<string, LintObjectKind> = {
  'CERTIFICATE': 'certificate',
  'TRUSTED CERTIFICATE': 'certificate',
  'X509 CRL': 'crl',
  'OCSP RESPONSE': 'ocsp-response',
};

/** What a DER object is, by the first structure it parses as; null when none. */
export function detectKind(der: Uint8Array): LintObjectKind | null {
  const tries: [LintObjectKind, () => unknown][] = [
    ['certificate', () => parseCertificate(der)],
    ['crl', () => parseCrlStructure(der)],
    ['ocsp-response', () => AsnParser.parse(der, ocsp.OCSPResponse)],
  ];
  for (const [kind, parse] of tries) {
    try { parse(); return kind; } catch { /* next */ }
  }
  return null;
}

const ARTICLE: Record<LintObjectKind, string> = { 'certificate': 'a certificate', 'crl': 'a CRL', 'ocsp-response': 'an OCSP response' };

const isPem = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, 4096)).toString('latin1').includes('-----BEGIN ');

/**
 * The objects in a file's bytes, in order. Throws LintDecodeError when there
 * is nothing to lint (no PEM block of a known kind, or DER that is none of
 * the three).
 */
export function decodeLintObjects(input: Uint8Array | string): LintObject[] {
  const bytes = typeof input === 'string' ? new Uint8Array(Buffer.from(input, 'latin1')) : input;
  if (typeof input === 'string' || isPem(bytes)) {
    const text = Buffer.from(bytes).toString('latin1');
    const out: LintObject[] = [];
    const seen: string[] = [];
    const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const kind = PEM_LABELS[m[1]!];
      seen.push(m[1]!);
      if (!kind) continue;
      const der = new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64'));
      if (detectKind(der) !== kind) throw new LintDecodeError(`PEM block "${m[1]}" number ${seen.length} does not decode as ${ARTICLE[kind]}`);
      out.push({ kind, der });
    }
    if (out.length === 0) throw new LintDecodeError(seen.length ? `no CERTIFICATE, X509 CRL or OCSP RESPONSE block (found ${seen.join(', ')})` : 'PEM without a complete BEGIN/END block');
    return out;
  }
  const kind = detectKind(bytes);
  if (!kind) throw new LintDecodeError('neither PEM nor a DER certificate, CRL or OCSP response');
  return [{ kind, der: bytes }];
}
