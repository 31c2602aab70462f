/**
 * An EST (RFC 7030) client made of real tools: openssl makes keys and
 * base64 PKCS#10 requests and reads certs-only responses (`openssl base64
 * -d`, `openssl pkcs7 -print_certs`); curl talks HTTPS (basic auth, client
 * certificates). Files go to `dir`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { curl, type CurlOptions, type CurlResult } from './curl.js';
import { mustOpenssl } from './openssl.js';

export const CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';

export interface EstRequestFiles { key: string; b64: string; der: string }

export interface EstClient {
  /** A P-256 key and its base64 DER PKCS#10 (what an EST client sends). */
  makeRequest(name: string, subj: string, san?: string): EstRequestFiles;
  post(url: string, o: Omit<CurlOptions, 'cacert' | 'out' | 'method'> & { contentType?: string }): CurlResult;
  get(url: string): CurlResult;
  /** The certificates (PEM) of a base64 certs-only body. */
  certsOf(body: string, name: string): string[];
  /** certsOf(body)[0] written to <name>.pem; returns the path. */
  firstCertFile(body: string, name: string): string;
}

export function estClient(dir: string, cacert: string): EstClient {
  const f = (name: string): string => join(dir, name);
  let n = 0;
  const client: EstClient = {
    makeRequest(name, subj, san) {
      const key = f(`${name}.key`);
      const der = f(`${name}.csr.der`);
      mustOpenssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', subj,
        ...(san ? ['-addext', `subjectAltName=${san}`] : []), '-outform', 'DER', '-out', der]);
      const b64 = f(`${name}.csr.b64`);
      mustOpenssl(['base64', '-in', der, '-out', b64]);
      return { key, b64, der };
    },
    post(url, o) {
      return curl(url, {
        cacert, method: 'POST', out: f(`est-resp-${++n}`), ...o,
        headers: { 'content-type': o.contentType ?? 'application/pkcs10', ...o.headers },
      });
    },
    get(url) {
      return curl(url, { cacert, out: f(`est-resp-${++n}`) });
    },
    certsOf(body, name) {
      writeFileSync(f(`${name}.b64`), body);
      mustOpenssl(['base64', '-d', '-in', f(`${name}.b64`), '-out', f(`${name}.p7`)]);
      const out = mustOpenssl(['pkcs7', '-inform', 'DER', '-in', f(`${name}.p7`), '-print_certs']);
      return out.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
    },
    firstCertFile(body, name) {
      const certs = client.certsOf(body, name);
      if (certs.length === 0) throw new Error(`no certificate in the EST response ${name}`);
      writeFileSync(f(`${name}.pem`), certs[0]!);
      return f(`${name}.pem`);
    },
  };
  return client;
}

/** The serial of a PEM certificate file in the inventory's form (lower-case hex, no leading 00). */
export function serialOfPem(pemFile: string): string {
  return mustOpenssl(['x509', '-in', pemFile, '-noout', '-serial']).trim().split('=')[1]!.toLowerCase().replace(/^(00)+(?=..)/, '');
}
