/**
 * What reaches a certificate's subject over REST (issue 15): the CSR that
 * once got "O=Google LLC, OU=Ops" into a certificate now gets only what the
 * profile allows; a profile that refuses other attributes answers 400 naming
 * the attribute and stores nothing; a commonName that is not among the SANs
 * is refused; the lifetime is exactly the days asked for; JSON types are not
 * coerced. (ACME's side is in acme-protocol.test.ts.)
 */
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { call } from './helpers/api-client.js';
import { makeCsr, mustOpenssl } from './helpers/openssl.js';
import { prepareTestNode, type TestNode } from './helpers/running-node.js';

const GOOGLE = '/C=US/ST=California/L=Mountain View/O=Google LLC/OU=Ops/CN=ok.subject.test/emailAddress=x@y.example';

let node: TestNode;
let token: string;

async function issue(profile: string, csr: string, extra: Record<string, unknown> = {}) {
  return call(`${node.httpsUrl}/api/v1/certificates`, { method: 'POST', token, ca: node.ca, json: { csr, profile, ...extra } });
}

function subjectOf(pem: string): string {
  return mustOpenssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], pem).trim().replace(/^subject=/, '');
}

async function total(): Promise<number> {
  return (await call(`${node.httpsUrl}/api/v1/status`, { token, ca: node.ca })).body.certificates.total;
}

before(async () => {
  node = await prepareTestNode({ prefix: 'rampart-subject-' });
  writeFileSync(join(node.dataDir, 'rampart.yaml'), [
    'profiles:',
    '  org:',
    '    description: server certificates that may name the organization',
    '    ekus: [serverAuth]',
    '    subject: { allowedAttributes: [O, C], otherAttributes: drop }',
    '  strict:',
    '    ekus: [serverAuth]',
    '    subject: { allowedAttributes: [C], otherAttributes: refuse }',
    '',
  ].join('\n'));
  await node.start();
  token = node.adminToken!;
});

after(async () => { await node?.close(); });

describe('subject policy over REST', () => {
  it('drops every attribute the built-in server profile does not allow: the certificate names the SAN only', async () => {
    const csr = readFileSync(makeCsr(node.dir, 'google', { subj: GOOGLE, san: 'DNS:ok.subject.test' }).csrPath, 'utf8');
    const r = await issue('server', csr);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(subjectOf(r.body.certificatePem), 'CN=ok.subject.test');
    assert.equal(r.body.subject, 'CN=ok.subject.test', 'the inventory records the subject the certificate has');
  });

  it('lets through exactly what the profile allows', async () => {
    const csr = readFileSync(makeCsr(node.dir, 'org', { subj: GOOGLE, san: 'DNS:ok.subject.test' }).csrPath, 'utf8');
    const r = await issue('org', csr);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(subjectOf(r.body.certificatePem), 'CN=ok.subject.test,O=Google LLC,C=US');
  });

  it('refuses with 400 naming the attribute, and stores nothing, when the profile says refuse', async () => {
    const before = await total();
    const csr = readFileSync(makeCsr(node.dir, 'strict', { subj: GOOGLE, san: 'DNS:ok.subject.test' }).csrPath, 'utf8');
    const r = await issue('strict', csr);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.detail, /subject attribute ST is not allowed/);
    assert.equal(await total(), before);
    const audit = await call(`${node.httpsUrl}/api/v1/audit?limit=5`, { token, ca: node.ca });
    const entry = audit.body.items.find((e: { action: string }) => e.action === 'certificate.issue');
    assert.equal(entry?.outcome, 'denied', JSON.stringify(entry));
  });

  it('refuses a commonName that is not one of the subjectAltNames (no silent SAN)', async () => {
    const before = await total();
    const csr = readFileSync(makeCsr(node.dir, 'cn', { subj: '/CN=other.subject.test', san: 'DNS:ok.subject.test' }).csrPath, 'utf8');
    const r = await issue('server', csr);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.detail, /commonName "other\.subject\.test" is not one of the certificate's subjectAltNames/);
    assert.equal(await total(), before);
  });

  it('issues for exactly the days asked (back-dated, not extended) and refuses a string for a number', async () => {
    const csr = readFileSync(makeCsr(node.dir, 'days', { subj: '/CN=days.subject.test', san: 'DNS:days.subject.test' }).csrPath, 'utf8');
    const r = await issue('server', csr, { validityDays: 30 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const c = new X509Certificate(r.body.certificatePem);
    assert.equal(Date.parse(c.validTo) - Date.parse(c.validFrom), 30 * 86_400_000);
    const s = await issue('server', csr, { validityDays: '30' });
    assert.equal(s.status, 400, JSON.stringify(s.body));
    assert.match(s.body.detail, /validityDays must be of JSON type integer, not string/);
    const t = await issue('server', csr, { sans: { dns: 'days.subject.test' } });
    assert.equal(t.status, 400, JSON.stringify(t.body));
  });

  it('refuses a CSR signed with SHA-1', async () => {
    const key = join(node.dir, 'sha1.key');
    const out = join(node.dir, 'sha1.csr');
    mustOpenssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-sha1', '-subj', '/CN=sha1.subject.test', '-addext', 'subjectAltName=DNS:sha1.subject.test', '-out', out]);
    const r = await issue('server', readFileSync(out, 'utf8'));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.detail, /SHA-1/);
  });
});
