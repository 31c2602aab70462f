import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { OID } from '../../pki/algorithms.js';
import { OcspMalformedError, parseOcspRequest } from './ocsp-codec.js';
import { OcspRequestShapes } from './ocsp-request-shapes.js';

let dir: string;
let n = 0;
/** A request made by OpenSSL (a client nobody here wrote) for `serialHex` of the test issuer. */
function request(serialHex: string, opts: { nonce?: boolean; sha256?: boolean } = {}): Buffer {
  const out = join(dir, `req-${n++}.der`);
  execFileSync('openssl', ['ocsp', '-issuer', join(dir, 'ca.pem'), ...(opts.sha256 ? ['-sha256'] : []), '-serial', `0x${serialHex}`,
    ...(opts.nonce === false ? ['-no_nonce'] : []), '-reqout', out], { stdio: 'pipe' });
  return readFileSync(out);
}

const hexToSerialHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** Strictly as parseOcspRequest's full parse reads a serial. */
function serialToHex(c: Uint8Array): string {
  const b = Buffer.from(c);
  if (b.length === 0 || b[0]! & 0x80 || (b.length > 1 && b[0] === 0 && !(b[1]! & 0x80))) throw new Error('bad serial');
  return (b.length > 1 && b[0] === 0 ? b.subarray(1) : b).toString('hex');
}

function shapesAfter(der: Buffer): OcspRequestShapes {
  const s = new OcspRequestShapes(OID.ocspNonce, serialToHex);
  s.remember(der, asn1js.fromBER(der).result, parseOcspRequest(der));
  return s;
}

describe('OCSP request shapes', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-shapes-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'),
      '-out', join(dir, 'ca.pem'), '-subj', '/CN=Shapes CA', '-days', '2'], { stdio: 'pipe' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers a request of a known shape (other serial, other nonce) exactly as the full parse does', () => {
    for (const [serial, opts] of [
      [() => `4${randomBytes(15).toString('hex').slice(1)}`, {}],
      [() => `4${randomBytes(15).toString('hex').slice(1)}`, { nonce: false }],
      [() => `4${randomBytes(15).toString('hex').slice(1)}`, { sha256: true }],
      // The high bit set: the INTEGER carries a leading 00 octet.
      [() => `8${randomBytes(15).toString('hex').slice(1)}`, {}],
    ] as Array<[() => string, { nonce?: boolean; sha256?: boolean }]>) {
      const shapes = shapesAfter(request(serial(), opts));
      for (let i = 0; i < 5; i++) {
        const next = request(serial(), opts);
        const fast = shapes.match(next);
        assert.ok(fast, `a request of the same shape matches (${JSON.stringify(opts)})`);
        assert.deepEqual(fast, parseOcspRequest(next));
        if (opts.nonce !== false) assert.equal(fast.nonce?.length, 16);
      }
    }
  });

  it('does not match a request that differs anywhere else, and leaves an invalid serial to the full parse', () => {
    const der = request(`4${randomBytes(15).toString('hex').slice(1)}`);
    const shapes = shapesAfter(der);
    const parsed = parseOcspRequest(der);
    assert.deepEqual(shapes.match(der), parsed, 'the request itself matches its shape');
    const serialAt = der.indexOf(Buffer.from(parsed.requests[0]!.serialHex, 'hex'));
    const nonceAt = der.lastIndexOf(parsed.nonce!);
    for (let i = 0; i < der.length; i++) {
      const inSerial = i >= serialAt && i < serialAt + parsed.requests[0]!.serialHex.length / 2;
      const inNonce = i >= nonceAt && i < nonceAt + parsed.nonce!.length;
      const changed = Buffer.from(der);
      changed[i] ^= 0x01;
      const m = shapes.match(changed);
      if (inNonce) assert.deepEqual(m?.nonce, changed.subarray(nonceAt, nonceAt + parsed.nonce!.length), `byte ${i} is the nonce`);
      else if (inSerial) assert.equal(m?.requests[0]?.serialHex, hexToSerialHex(changed.subarray(serialAt, serialAt + parsed.requests[0]!.serialHex.length / 2)), `byte ${i} is the serial`);
      else assert.equal(m, null, `byte ${i} changed outside the serial and the nonce`);
    }
    // A serial made negative or non-minimal is not answered from the shape; the full parse refuses it.
    for (const first of [0x80, 0x00]) {
      const bad = Buffer.from(der);
      bad[serialAt] = first;
      if (first === 0) bad[serialAt + 1] = 0x01;
      assert.equal(shapes.match(bad), null);
      assert.throws(() => parseOcspRequest(bad), OcspMalformedError);
    }
    assert.equal(shapes.match(der.subarray(0, der.length - 1)), null, 'another length');
  });
});
