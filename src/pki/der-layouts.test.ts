/**
 * Kept layouts give exactly what the assembler gives; a layout is refused
 * (and the assembler's bytes used every time) when an element's bytes also
 * occur earlier in the wrapping, or when the wrapping depends on more than
 * the elements' lengths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import { DerLayouts } from './der-layouts.js';
import { EncodedBlock, explicit, sequenceOf } from './encoded-block.js';

const wrap = ([a, b, c]: Uint8Array[]): Uint8Array =>
  sequenceOf([a!, explicit(1, new asn1js.OctetString({ valueHex: sequenceOf([b!, new asn1js.Integer({ valueHex: c! })]) }))]);
const octets = (n: number) => new Uint8Array(new asn1js.OctetString({ valueHex: randomBytes(n) }).toBER());

test('a structure from a kept layout is byte for byte the assembler\'s, for lengths below and above each length-octet boundary', () => {
  const layouts = new DerLayouts();
  let n = 0;
  for (const len of [1, 2, 60, 127, 128, 129, 255, 256, 300]) {
    for (let k = 0; k < 4; k++) {
      const elements = [octets(len), octets(3), randomBytes(1 + (len % 9))];
      assert.deepEqual(Buffer.from(layouts.encode('t', elements, wrap)), Buffer.from(wrap(elements)), `length ${len}, ${k}`);
      n++;
    }
  }
  assert.ok(layouts.stats.hits >= n / 2, `most came from layouts (${layouts.stats.hits} of ${n})`);
  assert.equal(layouts.stats.refused, 0);
});

test('shapes are kept apart: the same lengths under another shape use that shape\'s assembler', () => {
  const layouts = new DerLayouts();
  const other = (e: Uint8Array[]) => sequenceOf(e.map((x) => new EncodedBlock(x)));
  const elements = [octets(5), octets(5), randomBytes(3)];
  for (let k = 0; k < 3; k++) {
    assert.deepEqual(Buffer.from(layouts.encode('a', elements, wrap)), Buffer.from(wrap(elements)));
    assert.deepEqual(Buffer.from(layouts.encode('b', elements, other)), Buffer.from(other(elements)));
  }
});

test('no layout is kept when an element also occurs earlier in the wrapping, or the wrapping depends on the contents', () => {
  const layouts = new DerLayouts();
  // A one-byte INTEGER content 01 comes right after its length octet 01: the first place those bytes occur is the wrong one.
  const tricky = [octets(4), octets(2), new Uint8Array([1])];
  for (let k = 0; k < 4; k++) assert.deepEqual(Buffer.from(layouts.encode('t', tricky, wrap)), Buffer.from(wrap(tricky)));
  assert.equal(layouts.stats.hits, 0);
  assert.ok(layouts.stats.refused >= 1);

  const contentDependent = (e: Uint8Array[]) => sequenceOf([...e, new Uint8Array([e[0]![0]! & 1])]);
  const fresh = new DerLayouts();
  for (let k = 0; k < 4; k++) {
    const elements = [randomBytes(8), randomBytes(8)];
    assert.deepEqual(Buffer.from(fresh.encode('c', elements, contentDependent)), Buffer.from(contentDependent(elements)));
  }
  assert.equal(fresh.stats.hits, 0);
  assert.ok(fresh.stats.refused >= 1);
});

test('signed certificates assembled from kept layouts are asn1js\' bytes, for every signature length', async () => {
  const { assembleCertificate } = await import('./certificate-builder.js');
  const { algorithmDer } = await import('./algorithms.js');
  const tbs = [octets(300), octets(300), octets(301), octets(128)];
  for (let i = 0; i < 60; i++) {
    const t = tbs[i % tbs.length]!;
    const signature = randomBytes(69 + (i % 4));
    const direct = sequenceOf([t, algorithmDer('ecdsa-p256'), new asn1js.BitString({ valueHex: signature })]);
    assert.deepEqual(Buffer.from(assembleCertificate(t, 'ecdsa-p256', signature)), Buffer.from(direct), `case ${i}`);
  }
});
