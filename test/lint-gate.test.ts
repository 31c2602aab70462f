/**
 * Lint before signing (issue 15): what the CA would sign is built with a
 * throwaway key and linted first; a certificate that breaks an error-level
 * rule is refused before the CA key signs anything, no serial reaches the
 * inventory, and the issuance audit entry says which rule. Each rule has its
 * own bad-certificate test in src/pki/lint/; here the refusal path through
 * the CA and the issuance workflow is checked, for one certificate per rule
 * that a request or a profile can reach.
 */
import 'reflect-metadata';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../src/audit/audit-log.js';
import { CertificateAuthority, type LeafRequest } from '../src/ca/certificate-authority.js';
import { createHierarchy } from '../src/ca/hierarchy.js';
import { caUrls } from '../src/ca/urls.js';
import { rampartConfigSchema } from '../src/config/schema.js';
import { ManualClock } from '../src/core/clock.js';
import { CaEvents } from '../src/core/events.js';
import { isRampartError } from '../src/core/errors.js';
import type { KeyBackend } from '../src/keys/key-backend.js';
import { SoftwareKeyBackend } from '../src/keys/software/software-backend.js';
import { buildCsr } from '../src/pki/csr-builder.js';
import { parseDn } from '../src/pki/names.js';
import type { Name } from '@peculiar/asn1-x509';
import { IssuanceService } from '../src/ra/issuance.js';
import type { ProfilePolicy } from '../src/ra/policy.js';
import { SqliteStore } from '../src/storage/sqlite/sqlite-store.js';

const DAY = 86_400_000;
let dir: string;
let store: SqliteStore;
let ca: CertificateAuthority;
let issuance: IssuanceService;
let realSignatures = 0;
const clock = new ManualClock(Date.UTC(2026, 11, 6));

/** The software backend, counting every signature its keys make. */
function counting(inner: KeyBackend): KeyBackend {
  const wrap = async (p: ReturnType<KeyBackend['open']>) => {
    const s = await p;
    return { keyRef: s.keyRef, algorithm: s.algorithm, spki: s.spki, sign: (d: Uint8Array) => { realSignatures++; return s.sign(d); } };
  };
  return {
    type: inner.type, has: (r) => inner.has(r), health: () => inner.health(),
    generate: (label, alg) => wrap(inner.generate(label, alg)), open: (ref) => wrap(inner.open(ref)),
  };
}

function refusedByLint(e: unknown, id: string): true {
  assert.ok(isRampartError(e), String(e));
  assert.equal(e.code, 'policyViolation', e.message);
  assert.equal(e.extra.rule, 'lint');
  assert.ok((e.extra.lint as Array<{ id: string }>).some((f) => f.id === id), `${id} expected in ${e.message}`);
  return true;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-lint-gate-'));
  store = new SqliteStore({ path: join(dir, 'db') });
  await store.migrate();
  const keys = counting(new SoftwareKeyBackend({ dir: join(dir, 'keys'), secret: Buffer.from('a test passphrase') }));
  const urls = caUrls('http://127.0.0.1:1');
  const config = rampartConfigSchema.parse({ profiles: { 'no-policy': { ekus: ['serverAuth'], policies: [] } } });
  await createHierarchy({ spec: config.hierarchy, keys, store, clock, urls });
  ca = new CertificateAuthority({ store, keys, clock, urls });
  await ca.load();
  issuance = new IssuanceService({
    ca, store, audit: new AuditLog({ store, clock }), clock, events: new CaEvents(), profiles: config.profiles as Record<string, ProfilePolicy>,
  });
});

after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('lint before signing', () => {
  it('refuses an issuance whose certificate would break a rule: no CA signature, no serial stored, an audit entry naming the rule', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = await buildCsr({ key: privateKey, publicKey, algorithm: 'ecdsa-p256', cn: 'a.lint.test', sans: ['a.lint.test'] });
    const before = realSignatures;
    await assert.rejects(issuance.issue({ csr, profile: 'no-policy' }, { id: 'tester', role: 'admin', source: 'local', channel: 'cli' }),
      (e) => refusedByLint(e, 'e_sub_cert_certificate_policies_missing'));
    assert.equal(realSignatures, before, 'the CA key signed nothing');
    assert.deepEqual(await store.countCertificates(), { total: 0, revoked: 0 });
    const [entry] = await store.latestAudit(1);
    assert.equal(entry!.action, 'certificate.issue');
    assert.equal(entry!.outcome, 'denied');
    assert.match(JSON.stringify(entry!.details), /e_sub_cert_certificate_policies_missing/);
    // the same request under the server profile is signed (one CA signature) and stored
    const ok = await issuance.issue({ csr, profile: 'server' }, { id: 'tester', role: 'admin', source: 'local', channel: 'cli' });
    assert.equal(realSignatures, before + 1);
    assert.equal(ok.record.serial.length > 0, true);
  });

  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
  type NamedLeaf = LeafRequest & { subjectName: Name };
  const good = (): NamedLeaf => ({
    subjectName: parseDn('CN=b.lint.test'), spki: new Uint8Array(key), san: { dns: ['b.lint.test'] }, keyUsage: ['digitalSignature'],
    extKeyUsage: ['1.3.6.1.5.5.7.3.1'], notBefore: new Date(clock.now().getTime() - 60_000), notAfter: new Date(clock.now().getTime() + 90 * DAY),
    policies: ['2.23.140.1.2.1'], lintProfile: 'tls-server',
  });
  const cases: Array<[string, (r: NamedLeaf) => LeafRequest]> = [
    ['e_sub_cert_cn_not_in_san', (r) => ({ ...r, subjectName: parseDn('CN=other.lint.test') })],
    ['e_sub_cert_validity_over_398_days', (r) => ({ ...r, notAfter: new Date(r.notBefore.getTime() + 399 * DAY + 1000) })],
    ['e_sub_cert_eku_missing', (r) => ({ ...r, extKeyUsage: [] })],
    ['e_sub_cert_eku_server_auth_missing', (r) => ({ ...r, extKeyUsage: ['1.3.6.1.5.5.7.3.2'] })],
    ['e_sub_cert_key_usage_cert_sign', (r) => ({ ...r, keyUsage: ['digitalSignature', 'keyCertSign'] })],
    ['e_sub_cert_san_missing', (r) => ({ ...r, san: {} })],
    ['e_san_dns_name_malformed', (r) => ({ ...r, subjectName: parseDn('CN=bad_name.lint.test'), san: { dns: ['bad_name.lint.test'] } })],
    ['e_rsa_key_too_small', (r) => ({ ...r, spki: new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' })) })],
    ['e_ec_curve_not_allowed', (r) => ({ ...r, spki: new Uint8Array(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'der' })) })],
    ['e_sub_cert_certificate_policies_missing', (r) => ({ ...r, policies: [] })],
  ];
  for (const [id, breakIt] of cases) {
    it(`refuses a certificate that breaks ${id} before the CA key signs it`, async () => {
      const before = realSignatures;
      await assert.rejects(ca.signLeaf(breakIt(good())), (e) => refusedByLint(e, id));
      assert.equal(realSignatures, before);
    });
  }

  it('signs the unbroken certificate', async () => {
    const before = realSignatures;
    await ca.signLeaf(good());
    assert.equal(realSignatures, before + 1);
  });
});
