/**
 * `rampart lint` on files: a clean certificate (exit 0), a broken one (exit 1,
 * the rule ids in text and --json), a PEM bundle with a certificate and a
 * CRL, DER input, and garbage or a missing file (exit 2 with a message).
 * Also the assertLintClean test helper.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPem } from '../src/pki/certificate-builder.js';
import { buildTestCertificate, buildTestCrl, crlSpec, issuingCaCertificate, leafSpec } from '../src/pki/lint/fixtures.js';
import { assertLintClean } from './helpers/lint.js';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';

function rampart(args: string[]) {
  const r = spawnSync(process.execPath, [RAMPART_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('rampart lint', () => {
  const dir = tempDir('rampart-lint-cli-');
  after(() => removeDir(dir));
  const good = buildTestCertificate(leafSpec());
  const bad = buildTestCertificate(leafSpec({ serial: new Uint8Array([0]), template: { ...leafSpec().template, san: { dns: ['bad_name.example.com'] } } }));
  const files = {
    good: join(dir, 'good.pem'), goodDer: join(dir, 'good.der'), bad: join(dir, 'bad.pem'), bundle: join(dir, 'bundle.pem'),
    garbage: join(dir, 'garbage.pem'), keyOnly: join(dir, 'key.pem'), ca: join(dir, 'ca.pem'),
  };
  writeFileSync(files.good, toPem(good));
  writeFileSync(files.goodDer, good);
  writeFileSync(files.bad, toPem(bad));
  writeFileSync(files.bundle, toPem(good) + toPem(buildTestCrl(crlSpec()), 'X509 CRL'));
  writeFileSync(files.garbage, 'this is not a certificate\n');
  writeFileSync(files.keyOnly, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  writeFileSync(files.ca, toPem(issuingCaCertificate()));

  it('a clean certificate (PEM or DER) exits 0 with no findings, its profile guessed', () => {
    const r = rampart(['lint', files.good, files.goodDer]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /good\.pem: certificate "CN=www\.example\.com" \(profile tls-server, BR rules\): no findings/);
    assert.match(r.stdout, /good\.der: certificate/);
    assert.match(r.stdout, /0 error\(s\)/);
  });

  it('a broken certificate exits 1 and names the rules, in text and --json', () => {
    const r = rampart(['lint', files.bad]);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /e_serial_number_zero/);
    assert.match(r.stdout, /e_san_dns_name_malformed .*underscore/);
    assert.match(r.stdout, /e_sub_cert_cn_not_in_san/);
    const j = rampart(['--json', 'lint', files.bad, files.good]);
    assert.equal(j.code, 1, j.stderr);
    const doc = JSON.parse(j.stdout);
    assert.ok(doc.errors >= 3);
    const findings = doc.files[0].objects[0].findings as { id: string; severity: string; citation: string }[];
    assert.ok(findings.some((f) => f.id === 'e_serial_number_zero' && f.severity === 'error' && f.citation === 'RFC 5280 4.1.2.2'));
    assert.deepEqual(doc.files[1].objects[0].findings, []);
  });

  it('--no-br and --profile change which rules apply', () => {
    const noPolicies = join(dir, 'nopol.pem');
    writeFileSync(noPolicies, toPem(buildTestCertificate(leafSpec({ extensions: undefined }))));
    assert.equal(rampart(['lint', noPolicies]).code, 1);
    assert.equal(rampart(['lint', '--no-br', noPolicies]).code, 0);
    const asCa = rampart(['lint', '--profile', 'subordinate-ca', files.good]);
    assert.equal(asCa.code, 1);
    assert.match(asCa.stdout, /e_ca_basic_constraints_ca_false/);
  });

  it('a bundle of a certificate and a CRL lints both; --issuer adds the issuer checks', () => {
    const r = rampart(['lint', '--issuer', files.ca, files.bundle]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /bundle\.pem #1: certificate/);
    assert.match(r.stdout, /bundle\.pem #2: crl: no findings/);
  });

  it('garbage, a PEM with no certificate, a missing file, or a bad --profile exit 2 with a clear message', () => {
    const g = rampart(['lint', files.garbage]);
    assert.equal(g.code, 2, g.stderr + g.stdout);
    assert.match(g.stderr, /garbage\.pem: neither PEM nor a DER certificate, CRL or OCSP response/);
    const k = rampart(['lint', files.keyOnly]);
    assert.equal(k.code, 2);
    assert.match(k.stderr, /no CERTIFICATE, X509 CRL or OCSP RESPONSE block \(found PRIVATE KEY\)/);
    const m = rampart(['--json', 'lint', join(dir, 'missing.pem')]);
    assert.equal(m.code, 2);
    assert.equal(JSON.parse(m.stderr).error, 'malformed');
    assert.match(JSON.parse(m.stderr).message, /cannot read .*missing\.pem: ENOENT/);
    const p = rampart(['lint', '--profile', 'web', files.good]);
    assert.equal(p.code, 2);
    assert.match(p.stderr, /unknown profile "web"/);
  });
});

describe('assertLintClean', () => {
  it('passes a clean certificate (DER or PEM) and throws with the findings on a broken one', () => {
    const good = buildTestCertificate(leafSpec());
    assert.deepEqual(assertLintClean(good), []);
    assert.deepEqual(assertLintClean(toPem(good), 'tls-server'), []);
    const bad = buildTestCertificate(leafSpec({ serial: new Uint8Array([0]) }));
    assert.throws(() => assertLintClean(toPem(bad)), /e_serial_number_zero/);
    assert.throws(() => assertLintClean(good, 'root-ca'), /e_ca_basic_constraints_ca_false/);
  });
});
