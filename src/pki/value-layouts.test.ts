/**
 * Layouts found from real values (value-layouts.ts) give exactly what the
 * encoder gives: one is kept only after two values whose every content
 * differs agree with it, and a layout that depends on more than lengths is
 * dropped at a recheck. The synthetic inventory's TBSCertificates, built
 * from such layouts, are canonical DER carrying exactly the planned values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as asn from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ValueLayouts } from './value-layouts.js';
import { generateKeyObject } from '../core/signing.js';
import { serialHex } from '../core/serial.js';
import { base } from './template-fixtures.js';
import { encodeSyntheticRange, syntheticLayoutStats } from './synthetic/synthetic-encode.js';
import { planCertificate, type SyntheticSpec } from './synthetic/synthetic-plan.js';

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const seq = (a: string, b: string) => (): Uint8Array =>
  new Uint8Array(new asn1js.Sequence({ value: [new asn1js.Utf8String({ value: a }), new asn1js.Sequence({ value: [new asn1js.Utf8String({ value: b })] })] }).toBER());

test('kept after two values that differ in every content; later values are the encoder\'s bytes', () => {
  const layouts = new ValueLayouts(16, 1_000_000);
  const pairs: Array<[string, string]> = [['abc', 'wxyz'], ['abd', 'wxyq'], ['zzz', 'pppp'], ['a-b', 'c.de'], ['+++', '....']];
  for (const [a, b] of pairs) assert.deepEqual(Buffer.from(layouts.encode('t', [text(a), text(b)], seq(a, b))), Buffer.from(seq(a, b)()));
  assert.equal(layouts.stats.kept, 1);
  assert.equal(layouts.stats.hits, 3);
});

test('two values sharing a content keep nothing yet (an offset found by chance could not be told apart)', () => {
  const layouts = new ValueLayouts();
  layouts.encode('t', [text('aaa'), text('bbbb')], seq('aaa', 'bbbb'));
  layouts.encode('t', [text('aaa'), text('cccc')], seq('aaa', 'cccc'));
  assert.equal(layouts.stats.kept, 0);
  layouts.encode('t', [text('ddd'), text('eeee')], seq('ddd', 'eeee'));
  assert.equal(layouts.stats.kept, 1);
});

test('an encoding that depends on more than the lengths is refused at the check or dropped at a recheck', () => {
  // The encoder takes the number: its DER INTEGER grows a leading zero when the high bit is set.
  const int = (c: Uint8Array) => (): Uint8Array => new Uint8Array(new asn1js.Integer({ value: c[0]! * 256 + c[1]! }).toBER());
  const layouts = new ValueLayouts(16, 1);
  const values = [[0x01, 0x02], [0x03, 0x04], [0x85, 0x01], [0x05, 0x06], [0x90, 0x00]].map((v) => new Uint8Array(v));
  for (const v of values) assert.deepEqual(Buffer.from(layouts.encode('int', [v], int(v))), Buffer.from(int(v)()), Buffer.from(v).toString('hex'));
  assert.ok(layouts.stats.refused >= 1, JSON.stringify(layouts.stats));
});

test('synthetic TBSCertificates from layouts are canonical DER with exactly the planned serial, names and validity', () => {
  const keys = Array.from({ length: 4 }, () => new Uint8Array(createPublicKey(generateKeyObject('ecdsa-p256')).export({ type: 'spki', format: 'der' })));
  // Issuer valid past 2050: some certificates end in GeneralizedTime, of another length.
  const spec: SyntheticSpec = { seed: 'layouts', nowMs: Date.UTC(2049, 11, 1), revokedFraction: 0.2, expiredFraction: 0.2, issuerNotAfterMs: Date.UTC(2060, 0, 1), keyCount: 4, count: 3000 };
  const crlUrls = Array.from({ length: 16 }, (_, i) => `http://127.0.0.1:1/crl/int-x/${i}.crl`);
  const before = syntheticLayoutStats().hits;
  const out = encodeSyntheticRange({ ...base, subjectSpki: keys[0]! }, { spec, keys, algorithm: 'ecdsa-p256', start: 0, count: 3000, crlUrls });
  assert.ok(syntheticLayoutStats().hits - before > 3000, 'most elements came from layouts');
  let generalized = 0;
  out.forEach((c, i) => {
    const p = planCertificate(spec, i);
    const tbs = AsnConvert.parse(c.tbsDer, asn.TBSCertificate);
    assert.deepEqual(Buffer.from(AsnConvert.serialize(tbs)), Buffer.from(c.tbsDer), `certificate ${i}: canonical DER`);
    assert.equal(Buffer.from(tbs.serialNumber).toString('hex'), serialHex(p.serial));
    assert.equal(tbs.validity.notBefore.getTime().getTime(), p.notBefore.getTime());
    assert.equal(tbs.validity.notAfter.getTime().getTime(), p.notAfter.getTime());
    if (tbs.validity.notAfter.generalTime) generalized++;
    const cn = tbs.subject.flatMap((r) => r).find((a) => a.type === '2.5.4.3');
    assert.equal(cn?.value.toString(), p.commonName);
    const sanExt = tbs.extensions!.find((e) => e.extnID === asn.id_ce_subjectAltName)!;
    const san = AsnConvert.parse(sanExt.extnValue, asn.SubjectAlternativeName);
    assert.deepEqual([...san].map((g) => g.dNSName), p.dns);
    assert.deepEqual(Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey), Buffer.from(AsnConvert.parse(keys[p.keyIndex]!, asn.SubjectPublicKeyInfo).subjectPublicKey));
  });
  assert.ok(generalized > 0, 'some end after 2049');
});
