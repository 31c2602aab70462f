import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRampartError } from '../core/errors.js';
import { parseCsr, type CsrKey, type ParsedCsr } from '../pki/csr.js';
import { parseDn } from '../pki/names.js';
import { Name } from '@peculiar/asn1-x509';
import { canonicalIp, checkRequest, dnsNameProblem, matchesNamePattern, type PolicyRequest, type PolicyRule, type ProfilePolicy } from './policy.js';

function policy(over: Partial<ProfilePolicy> = {}): ProfilePolicy {
  return {
    description: 'test',
    allowedNames: ['*.example.com', '**.internal.example.com', 'localhost', 'Exact.Example.ORG'],
    deniedNames: ['secret.example.com', '**.corp.example.com'],
    allowIpSans: true,
    allowedIpRanges: ['127.0.0.0/8', '10.0.0.0/8', '::1/128', 'fd00::/8'],
    maxValidityDays: 90,
    defaultValidityDays: 30,
    keyTypes: { ecdsa: { allowed: true, curves: ['P-256', 'P-384'] }, rsa: { allowed: true, minBits: 2048 } },
    ekus: ['serverAuth'],
    requireSan: true,
    maxSans: 10,
    ...over,
  };
}

interface FakeCsr { cn?: string; subject?: string; key?: CsrKey; dns?: string[]; ip?: string[]; email?: string[]; uri?: string[] }

/** A ParsedCsr without the crypto: the policy only looks at the parsed fields. */
function csr(o: FakeCsr = {}): ParsedCsr {
  const subject = o.subject ?? (o.cn !== undefined ? `CN=${o.cn}` : '');
  const out: ParsedCsr = {
    der: new Uint8Array([0x30, 0x00]),
    subject,
    subjectName: subject ? parseDn(subject) : new Name([]),
    spki: new Uint8Array(0),
    key: o.key ?? { type: 'ecdsa', curve: 'P-256' },
    san: { dns: o.dns ?? [], ip: o.ip ?? [], email: o.email ?? [], uri: o.uri ?? [] },
  };
  if (o.cn !== undefined) out.commonName = o.cn;
  return out;
}

function check(p: ProfilePolicy, req: Partial<PolicyRequest> & FakeCsr) {
  return checkRequest('server', p, { csr: req.csr ?? csr(req), sans: req.sans, validityDays: req.validityDays });
}

function subjectRefused(fn: () => unknown, rule: PolicyRule, name: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRampartError(e), `expected a RampartError, got ${String(e)}`);
    assert.equal(e.code, 'badCsr');
    assert.equal(e.http, 400);
    assert.equal(e.extra.rule, rule, e.message);
    assert.equal(e.extra.name, name);
    assert.match(e.message, new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    return true;
  });
}

function refused(fn: () => unknown, rule: PolicyRule, name?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRampartError(e), `expected a RampartError, got ${String(e)}`);
    assert.equal(e.code, 'policyViolation');
    assert.equal(e.http, 403);
    assert.equal(e.extra.rule, rule, e.message);
    assert.equal(e.extra.profile, 'server');
    if (name !== undefined) assert.equal(e.extra.name, name);
    assert.match(e.message, /^profile "server": /);
    return true;
  });
}

test('a good request returns lower-case, de-duplicated names, canonical IPs, default validity and the profile EKUs', () => {
  const p = policy();
  const r = check(p, {
    cn: 'a.example.com', dns: ['A.Example.com', 'b.example.com'], ip: ['127.0.0.1'],
    sans: { dns: ['B.EXAMPLE.COM', 'c.example.com'], ip: ['0:0:0:0:0:0:0:1', '::1', '127.0.0.1'] },
  });
  assert.deepEqual(r, {
    dns: ['a.example.com', 'b.example.com', 'c.example.com'], ip: ['127.0.0.1', '::1'], email: [], validityDays: 30, ekus: ['serverAuth'],
    subject: { keep: [], commonName: 'a.example.com' }, dropped: [],
  });
  r.ekus.push('clientAuth');
  assert.deepEqual(p.ekus, ['serverAuth'], 'the decision does not alias the profile');
  assert.deepEqual(check(p, { ip: ['FD00:0:0::AB'] }).ip, ['fd00::ab']);
});

test('commonName: with the default rule it must be one of the SANs (CA/B BR 7.1.4.3), else the request is refused with 400 naming it', () => {
  const p = policy();
  assert.deepEqual(check(p, { cn: 'A.example.com', dns: ['a.example.com'] }).subject, { keep: [], commonName: 'A.example.com' });
  assert.deepEqual(check(p, { cn: '10.1.2.3', ip: ['10.1.2.3'] }).subject, { keep: [], commonName: '10.1.2.3' });
  subjectRefused(() => check(p, { cn: 'c.example.com', dns: ['a.example.com'] }), 'commonName', 'c.example.com');
  subjectRefused(() => check(p, { cn: 'c.example.com' }), 'commonName', 'c.example.com');
  subjectRefused(() => check(p, { cn: 'Alice', dns: ['a.example.com'] }), 'commonName', 'Alice');
  // 'add': the old behaviour, explicitly: a hostname or IP CN joins the SANs and is checked like any other name
  const add = policy({ subject: { allowedAttributes: [], otherAttributes: 'drop', commonName: 'san', commonNameNotInSans: 'add' } });
  assert.deepEqual(check(add, { cn: 'c.example.com', dns: ['a.example.com'] }).dns, ['a.example.com', 'c.example.com']);
  assert.deepEqual(check(add, { cn: 'c.example.com' }).dns, ['c.example.com'], 'CN alone satisfies requireSan');
  assert.deepEqual(check(add, { cn: '10.1.2.3' }).ip, ['10.1.2.3']);
  refused(() => check(add, { cn: 'evil.example.net', dns: ['a.example.com'] }), 'allowedNames', 'evil.example.net');
  refused(() => check(add, { cn: 'a.example.com.', dns: ['a.example.com'] }), 'dnsSyntax', 'a.example.com.');
  subjectRefused(() => check(add, { cn: 'Alice', dns: ['a.example.com'] }), 'commonName', 'Alice');
  // 'keep': client identities such as "Alice Smith" stay as given and are not SANs; 'drop' leaves the CN out
  const keep = policy({ requireSan: false, subject: { allowedAttributes: [], otherAttributes: 'drop', commonName: 'keep', commonNameNotInSans: 'refuse' } });
  assert.deepEqual(check(keep, { cn: 'Alice Smith' }), { dns: [], ip: [], email: [], validityDays: 30, ekus: ['serverAuth'], subject: { keep: [], commonName: 'Alice Smith' }, dropped: [] });
  assert.deepEqual(check(keep, { cn: 'svc.example.com' }).dns, []);
  const drop = policy({ subject: { allowedAttributes: [], otherAttributes: 'drop', commonName: 'drop', commonNameNotInSans: 'refuse' } });
  assert.deepEqual(check(drop, { cn: 'Alice', dns: ['a.example.com'] }).subject, { keep: [] });
  assert.deepEqual(check(drop, { cn: 'Alice', dns: ['a.example.com'] }).dropped, ['CN']);
  // over ACME (validated names only), 'keep' still means: one of the SANs
  subjectRefused(() => checkRequest('server', keep, { csr: csr({ cn: 'Alice', dns: ['a.example.com'] }), validatedNamesOnly: true }), 'commonName', 'Alice');
});

test('subject attributes: only what the profile allows reaches the certificate; the rest is dropped or refused with 400 naming it', () => {
  const subject = 'C=US, ST=California, L=Mountain View, O=Google LLC, OU=Ops, CN=ok.example.com, E=x@y';
  const dropAll = check(policy(), { subject, cn: 'ok.example.com', dns: ['ok.example.com'] });
  assert.deepEqual(dropAll.subject, { keep: [], commonName: 'ok.example.com' });
  assert.deepEqual(dropAll.dropped, ['C', 'ST', 'L', 'O', 'OU', 'emailAddress']);
  const some = policy({ subject: { allowedAttributes: ['O', 'C'], otherAttributes: 'drop', commonName: 'san', commonNameNotInSans: 'refuse' } });
  assert.deepEqual(check(some, { subject, cn: 'ok.example.com', dns: ['ok.example.com'] }).subject, { keep: ['2.5.4.6', '2.5.4.10'], commonName: 'ok.example.com' });
  // ACME proves names only: nothing but the CN, whatever the profile allows over REST, and never a refusal for the rest
  const acme = checkRequest('server', some, { csr: csr({ subject, cn: 'ok.example.com', dns: ['ok.example.com'] }), validatedNamesOnly: true });
  assert.deepEqual(acme.subject, { keep: [], commonName: 'ok.example.com' });
  const strict = policy({ subject: { allowedAttributes: ['C'], otherAttributes: 'refuse', commonName: 'san', commonNameNotInSans: 'refuse' } });
  subjectRefused(() => check(strict, { subject, cn: 'ok.example.com', dns: ['ok.example.com'] }), 'subjectAttribute', 'ST');
  subjectRefused(() => check(strict, { subject: 'O=Google LLC, CN=ok.example.com', cn: 'ok.example.com', dns: ['ok.example.com'] }), 'subjectAttribute', 'O');
  assert.deepEqual(check(strict, { subject: 'C=DE, CN=ok.example.com', cn: 'ok.example.com', dns: ['ok.example.com'] }).subject.keep, ['2.5.4.6']);
});

test('requireSan: a request must name at least one DNS or IP SAN; an empty request is always refused', () => {
  refused(() => check(policy(), {}), 'requireSan');
  refused(() => check(policy(), { subject: 'O=Example, CN=Build Agent' }), 'requireSan');
  refused(() => check(policy({ requireSan: false }), {}), 'requireSan');
  assert.deepEqual(check(policy(), { sans: { dns: ['a.example.com'] } }).dns, ['a.example.com'], 'API-body SANs count');
});

test('name patterns: *, one-label wildcard, any-depth wildcard, in-label globs, exact names, case-insensitive', () => {
  assert.ok(matchesNamePattern('*', 'anything.at.all'));
  assert.ok(matchesNamePattern('*', '*.example.com'));
  assert.ok(matchesNamePattern('*.example.com', 'a.example.com'));
  assert.ok(matchesNamePattern('*.example.com', '*.example.com'));
  assert.ok(matchesNamePattern('*.Example.COM', 'A.example.com'));
  assert.ok(!matchesNamePattern('*.example.com', 'a.b.example.com'));
  assert.ok(!matchesNamePattern('*.example.com', 'example.com'));
  assert.ok(!matchesNamePattern('*.example.com', 'a.example.com.evil.net'));
  assert.ok(!matchesNamePattern('*.example.com', 'aexample.com'));
  assert.ok(matchesNamePattern('**.example.com', 'a.example.com'));
  assert.ok(matchesNamePattern('**.example.com', 'a.b.c.example.com'));
  assert.ok(matchesNamePattern('**.example.com', '*.b.example.com'));
  assert.ok(!matchesNamePattern('**.example.com', 'example.com'));
  assert.ok(!matchesNamePattern('**.example.com', 'notexample.com'));
  assert.ok(matchesNamePattern('web-*.example.com', 'web-01.example.com'));
  assert.ok(!matchesNamePattern('web-*.example.com', 'web-01.x.example.com'));
  assert.ok(!matchesNamePattern('web-*.example.com', 'db-01.example.com'));
  assert.ok(matchesNamePattern('db?.example.com', 'db1.example.com'));
  assert.ok(!matchesNamePattern('db?.example.com', 'db12.example.com'));
  assert.ok(matchesNamePattern('exact.example.org', 'EXACT.example.org'));
  assert.ok(!matchesNamePattern('exact.example.org', 'x.exact.example.org'));
  assert.ok(!matchesNamePattern('exact.example.org', '*.example.org'));
  assert.ok(!matchesNamePattern('exact.example.org', 'exact.example.org.evil'));
  // wildcardCovers: a wildcard name stands for every name it covers
  assert.ok(matchesNamePattern('secret.example.com', '*.example.com', true));
  assert.ok(!matchesNamePattern('secret.example.com', '*.example.com', false));
  assert.ok(!matchesNamePattern('a.secret.example.com', '*.example.com', true));
});

test('allowedNames: names outside every allowed pattern are refused', () => {
  const p = policy({ deniedNames: [] });
  for (const ok of ['a.example.com', '*.example.com', 'x.internal.example.com', 'a.b.c.internal.example.com', '*.internal.example.com', 'localhost', 'exact.example.org']) {
    assert.deepEqual(check(p, { dns: [ok] }).dns, [ok.toLowerCase()], ok);
  }
  for (const bad of ['a.b.example.com', 'example.com', 'example.org', 'a.example.net', 'x.exact.example.org', '*.b.example.com']) {
    refused(() => check(p, { dns: [bad] }), 'allowedNames', bad);
  }
  refused(() => check(p, { dns: ['a.example.com'], sans: { dns: ['other.test'] } }), 'allowedNames', 'other.test');
  refused(() => check(policy({ allowedNames: [] }), { dns: ['a.example.com'] }), 'allowedNames');
  assert.deepEqual(check(policy({ allowedNames: ['*'] }), { dns: ['a.b.c.example.net'] }).dns, ['a.b.c.example.net']);
});

test('deniedNames win over allowedNames, including names a wildcard would cover', () => {
  const p = policy({ allowedNames: ['*'] });
  refused(() => check(p, { dns: ['secret.example.com'] }), 'deniedNames', 'secret.example.com');
  refused(() => check(p, { dns: ['SECRET.Example.com'] }), 'deniedNames', 'secret.example.com');
  refused(() => check(p, { dns: ['*.example.com'] }), 'deniedNames', '*.example.com');
  refused(() => check(p, { dns: ['a.b.corp.example.com'] }), 'deniedNames');
  refused(() => check(p, { dns: ['*.corp.example.com'] }), 'deniedNames');
  refused(() => check(p, { dns: ['*.x.corp.example.com'] }), 'deniedNames');
  refused(() => check(p, { dns: ['secret.example.com', 'ok.example.com'] }), 'deniedNames', 'secret.example.com');
  assert.deepEqual(check(p, { dns: ['other.example.com', 'corp.example.com', '*.other.example.com'] }).dns,
    ['other.example.com', 'corp.example.com', '*.other.example.com']);
  // denied even when also allowed by an exact allowed pattern
  refused(() => check(policy({ allowedNames: ['secret.example.com'] }), { dns: ['secret.example.com'] }), 'deniedNames');
  refused(() => check(policy({ deniedNames: ['*'] }), { dns: ['a.example.com'] }), 'deniedNames');
});

test('dnsSyntax: only LDH hostnames with an optional leading wildcard label', () => {
  const p = policy({ allowedNames: ['*'], deniedNames: [] });
  const bad = [
    'a..example.com', 'a.example.com.', '.a.example.com', '_acme.example.com', 'a_b.example.com', 'bücher.example.com',
    '-a.example.com', 'a-.example.com', `${'x'.repeat(64)}.example.com`, `${'a.'.repeat(126)}com`, '*.com', '*',
    'a.*.example.com', '*a.example.com', '**.example.com', '', ' a.example.com', 'a b.example.com', '1.2.3.4',
    'xn--zz.example.com', 'a.example.com/x', 'user@example.com',
  ];
  for (const name of bad) {
    assert.ok(dnsNameProblem(name), `expected a problem with "${name}"`);
    refused(() => check(p, { dns: ['ok.example.com', name] }), 'dnsSyntax', name);
    refused(() => check(p, { sans: { dns: [name] } }), 'dnsSyntax', name);
  }
  const good = ['a.example.com', 'A-B.Example.com', `${'x'.repeat(63)}.example.com`, 'xn--bcher-kva.example.com', '*.example.com', 'localhost', '1a.example.com', 'a.b.c.d.e'];
  for (const name of good) assert.equal(dnsNameProblem(name), undefined, name);
  assert.match(dnsNameProblem('_acme.example.com') ?? '', /underscore/);
  assert.match(dnsNameProblem('bücher.example.com') ?? '', /punycode/);
  assert.match(dnsNameProblem('a.example.com.') ?? '', /end with a dot/);
  const long = `${'abcdefghi.'.repeat(24)}example.com`; // 251 characters
  assert.equal(long.length, 251);
  assert.equal(dnsNameProblem(long), undefined);
  assert.equal(dnsNameProblem(`ab${long}`), undefined, '253 characters is the limit');
  assert.match(dnsNameProblem(`abc${long}`) ?? '', /253/);
});

test('ipSans: IP SANs need allowIpSans and must be valid addresses', () => {
  refused(() => check(policy({ allowIpSans: false }), { dns: ['a.example.com'], ip: ['127.0.0.1'] }), 'ipSans', '127.0.0.1');
  refused(() => check(policy({ allowIpSans: false }), { sans: { ip: ['10.0.0.1'] } }), 'ipSans');
  refused(() => check(policy({ allowIpSans: false }), { cn: '10.0.0.1', ip: ['10.0.0.1'] }), 'ipSans');
  for (const bad of ['1.2.3', '010.0.0.1', '256.0.0.1', 'fe80::1%eth0', 'localhost', '10.0.0.0/8', '']) {
    refused(() => check(policy(), { sans: { ip: [bad] } }), 'ipSans', bad);
  }
  assert.equal(canonicalIp('2001:DB8:0000::0001'), '2001:db8::1');
  assert.equal(canonicalIp('127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalIp('fe80::1%eth0'), undefined);
});

test('allowedIpRanges: every IP SAN must fall into a listed CIDR, per address family', () => {
  const p = policy();
  assert.deepEqual(check(p, { ip: ['10.255.0.1', '127.0.0.2', '::1', 'fd12::1'] }).ip, ['10.255.0.1', '127.0.0.2', '::1', 'fd12::1']);
  for (const bad of ['8.8.8.8', '11.0.0.1', '192.168.1.1', '2001:db8::1', '::2', '::ffff:10.0.0.1']) {
    refused(() => check(p, { dns: ['a.example.com'], ip: [bad] }), 'allowedIpRanges', canonicalIp(bad));
  }
  refused(() => check(policy({ allowedIpRanges: [] }), { ip: ['10.0.0.1'] }), 'allowedIpRanges');
  const v6only = policy({ allowedIpRanges: ['::/0'] });
  assert.deepEqual(check(v6only, { ip: ['2001:db8::1'] }).ip, ['2001:db8::1']);
  refused(() => check(v6only, { ip: ['10.0.0.1'] }), 'allowedIpRanges', '10.0.0.1');
  assert.deepEqual(check(policy({ allowedIpRanges: ['0.0.0.0/0'] }), { ip: ['8.8.8.8'] }).ip, ['8.8.8.8']);
});

test('maxValidityDays: defaults to defaultValidityDays and must be 1..maxValidityDays', () => {
  const p = policy({ maxValidityDays: 90, defaultValidityDays: 30 });
  const base = { dns: ['a.example.com'] };
  assert.equal(check(p, base).validityDays, 30);
  assert.equal(check(p, { ...base, validityDays: 1 }).validityDays, 1);
  assert.equal(check(p, { ...base, validityDays: 90 }).validityDays, 90);
  for (const bad of [91, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    refused(() => check(p, { ...base, validityDays: bad }), 'maxValidityDays');
  }
});

test('key types: keyType, rsaMinBits and ecdsaCurve', () => {
  const base = { dns: ['a.example.com'] };
  assert.ok(check(policy(), { ...base, key: { type: 'rsa', bits: 2048 } }));
  assert.ok(check(policy(), { ...base, key: { type: 'ecdsa', curve: 'P-384' } }));
  refused(() => check(policy(), { ...base, key: { type: 'rsa', bits: 1024 } }), 'rsaMinBits');
  refused(() => check(policy(), { ...base, key: { type: 'rsa', bits: 2047 } }), 'rsaMinBits');
  refused(() => check(policy({ keyTypes: { ecdsa: { allowed: true, curves: ['P-256'] }, rsa: { allowed: true, minBits: 3072 } } }),
    { ...base, key: { type: 'rsa', bits: 2048 } }), 'rsaMinBits');
  refused(() => check(policy({ keyTypes: { ecdsa: { allowed: true, curves: ['P-256'] }, rsa: { allowed: false, minBits: 2048 } } }),
    { ...base, key: { type: 'rsa', bits: 4096 } }), 'keyType');
  refused(() => check(policy({ keyTypes: { ecdsa: { allowed: false, curves: ['P-256'] }, rsa: { allowed: true, minBits: 2048 } } }),
    { ...base, key: { type: 'ecdsa', curve: 'P-256' } }), 'keyType');
  refused(() => check(policy(), { ...base, key: { type: 'ecdsa', curve: 'P-521' } }), 'ecdsaCurve');
  refused(() => check(policy({ keyTypes: { ecdsa: { allowed: true, curves: ['P-256'] }, rsa: { allowed: true, minBits: 2048 } } }),
    { ...base, key: { type: 'ecdsa', curve: 'P-384' } }), 'ecdsaCurve');
  refused(() => check(policy(), { ...base, key: { type: 'other', oid: '1.3.101.112' } }), 'keyType');
});

test('key types from real openssl CSRs: RSA 1024, P-521 and Ed25519 are refused, P-256 passes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const make = async (name: string, keyArgs: string[]) => {
    const out = join(dir, `${name}.csr`);
    execFileSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', join(dir, `${name}.key`), '-subj', '/CN=a.example.com',
      '-addext', 'subjectAltName=DNS:a.example.com,IP:10.0.0.1', '-out', out], { stdio: 'ignore' });
    return parseCsr(readFileSync(out, 'utf8'));
  };
  const p = policy();
  const ok = checkRequest('server', p, { csr: await make('p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']) });
  assert.deepEqual(ok.dns, ['a.example.com']);
  assert.deepEqual(ok.ip, ['10.0.0.1']);
  const rsa = await make('rsa', ['-newkey', 'rsa:1024']);
  refused(() => checkRequest('server', p, { csr: rsa }), 'rsaMinBits');
  const p521 = await make('p521', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']);
  refused(() => checkRequest('server', p, { csr: p521 }), 'ecdsaCurve');
  const ed = await make('ed', ['-newkey', 'ed25519']);
  refused(() => checkRequest('server', p, { csr: ed }), 'keyType');
});

test('maxSans counts distinct final names, including API-body names and the CN', () => {
  const p = policy({ maxSans: 3 });
  assert.equal(check(p, { dns: ['a.example.com', 'A.example.com', 'b.example.com'], ip: ['10.0.0.1', '10.0.0.1'] }).dns.length, 2);
  refused(() => check(p, { dns: ['a.example.com', 'b.example.com'], ip: ['10.0.0.1'], sans: { dns: ['c.example.com'] } }), 'maxSans');
  refused(() => check(policy({ maxSans: 3, subject: { allowedAttributes: [], otherAttributes: 'drop', commonName: 'san', commonNameNotInSans: 'add' } }), { cn: 'd.example.com', dns: ['a.example.com', 'b.example.com', 'c.example.com'] }), 'maxSans');
  refused(() => check(policy({ maxSans: 1 }), { dns: ['a.example.com'], ip: ['10.0.0.1'] }), 'maxSans');
});

test('sanType: email SANs need allowEmailSans (domain checked against allowedNames); URI SANs are refused', () => {
  refused(() => check(policy(), { dns: ['a.example.com'], email: ['a@example.com'] }), 'sanType', 'a@example.com');
  assert.deepEqual(check(policy({ allowEmailSans: true }), { email: ['Alice@A.Example.com'] }).email, ['Alice@a.example.com']);
  refused(() => check(policy({ allowEmailSans: true }), { email: ['a@evil.example.net'] }), 'allowedNames', 'evil.example.net');
  refused(() => check(policy({ allowEmailSans: true }), { email: ['no-at-sign'] }), 'emailSyntax', 'no-at-sign');
  refused(() => check(policy({ requireSan: false }), { cn: 'Alice', uri: ['spiffe://example.com/a'] }), 'sanType', 'spiffe://example.com/a');
});
