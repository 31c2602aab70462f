import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as ocsp from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, CRLReason } from '@peculiar/asn1-x509';
import { OID } from '../../pki/algorithms.js';
import { hexToSerial, nonceExtension, nonceExtensionBlock, nonceExtensionDer } from './ocsp-codec.js';
import { encodeResponseData, responseDataLayoutStats, type ResponseDataParts, type SingleResponseParts } from './response-data-encoder.js';

/** The same ResponseData built as a whole @peculiar/asn1-ocsp object tree and serialized. */
function reference(p: ResponseDataParts, nonce?: Uint8Array): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new ocsp.ResponseData({
    responderID: new ocsp.ResponderID({ byKey: new ocsp.KeyHash(p.responderKeyHash) }),
    producedAt: p.producedAt,
    responses: p.responses.map((r) => new ocsp.SingleResponse({
      certID: new ocsp.CertID({
        hashAlgorithm: new AlgorithmIdentifier({ algorithm: r.hashAlgorithm, parameters: null }),
        issuerNameHash: new OctetString(r.issuerNameHash), issuerKeyHash: new OctetString(r.issuerKeyHash), serialNumber: r.serial,
      }),
      certStatus: r.status.type === 'good' ? new ocsp.CertStatus({ good: null })
        : r.status.type === 'unknown' ? new ocsp.CertStatus({ unknown: null }) : new ocsp.CertStatus({ revoked: r.status.info }),
      thisUpdate: r.thisUpdate, nextUpdate: r.nextUpdate,
    })),
    responseExtensions: nonce ? [nonceExtension(nonce)] : undefined,
  })));
}

const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

function single(i: number, status: SingleResponseParts['status'], sha256 = false): SingleResponseParts {
  const n = sha256 ? 32 : 20;
  return {
    hashAlgorithm: sha256 ? OID.sha256 : OID.sha1, issuerNameHash: randomBytes(n), issuerKeyHash: randomBytes(n),
    serial: hexToSerial(i % 2 ? randomBytes(16).toString('hex') : `${'8f'}${randomBytes(15).toString('hex')}`),
    status, thisUpdate: second(Date.UTC(2026, 11, 7, 4, 0, i)), nextUpdate: second(Date.UTC(2026, 11, 8, 4, 0, i)),
  };
}

describe('OCSP ResponseData encoder', () => {
  it('gives byte for byte what @peculiar/asn1-ocsp gives, for every status, hash, nonce and several responses', () => {
    const revoked = (reason?: number): SingleResponseParts['status'] => ({
      type: 'revoked', info: new ocsp.RevokedInfo({ revocationTime: second(Date.UTC(2026, 0, 2, 3, 4, 5)), revocationReason: reason === undefined ? undefined : new CRLReason(reason) }),
    });
    const shapes: SingleResponseParts[][] = [
      [single(1, { type: 'good' })],
      [single(2, { type: 'good' }, true)],
      [single(3, { type: 'unknown' })],
      [single(4, revoked())],
      [single(5, revoked(1))],
      [single(6, revoked(10), true)],
      [single(7, { type: 'good' }), single(8, revoked(4)), single(9, { type: 'unknown' }, true)],
    ];
    for (const responses of shapes) {
      for (const nonce of [undefined, randomBytes(1), randomBytes(16), randomBytes(32)]) {
        const p: ResponseDataParts = {
          responderKeyHash: randomBytes(20), producedAt: second(Date.UTC(2026, 11, 7, 4, 5, 6)), responses,
          extensions: nonce ? [nonceExtensionDer(nonce)] : undefined,
        };
        assert.deepEqual(Buffer.from(encodeResponseData(p)), Buffer.from(reference(p, nonce)));
        if (nonce) assert.deepEqual(Buffer.from(encodeResponseData({ ...p, extensions: [nonceExtensionBlock(nonce)] })), Buffer.from(reference(p, nonce)), 'the nonce as blocks');
      }
    }
  });

  it('single responses from kept layouts: byte for byte the same, whatever the serial, hash, status, time and nonce lengths', () => {
    const before = responseDataLayoutStats();
    let n = 0;
    for (let i = 0; i < 240; i++) {
      const sha256 = i % 3 === 0;
      // A one-byte serial of 01 or 02 equals the INTEGER's own length or tag just before it: that layout is
      // refused by its check, by design (the next test); here refusals must not happen, so those are not drawn.
      let serialHex = randomBytes(1 + (i % 20)).toString('hex');
      while (serialHex === '01' || serialHex === '02') serialHex = randomBytes(1).toString('hex');
      const r: SingleResponseParts = {
        ...single(i, { type: i % 7 === 0 ? 'unknown' : 'good' }, sha256),
        serial: hexToSerial(i % 2 ? `8${serialHex.slice(1)}` : serialHex),
      };
      const nonce = i % 5 === 0 ? undefined : randomBytes(1 + (i % 32));
      // Three times, other hashes and nonces of the same lengths: a layout is kept the second time, used the third.
      for (let k = 0; k < 3; k++) {
        const again = { ...r, issuerNameHash: randomBytes(r.issuerNameHash.length), issuerKeyHash: randomBytes(r.issuerKeyHash.length) };
        const thisNonce = nonce ? randomBytes(nonce.length) : undefined;
        const p: ResponseDataParts = {
          responderKeyHash: randomBytes(20), producedAt: second(Date.UTC(2026, 11, 7, 4, 5, i % 60)), responses: [again],
          extensions: thisNonce ? [nonceExtensionDer(thisNonce)] : undefined,
        };
        assert.deepEqual(Buffer.from(encodeResponseData(p)), Buffer.from(reference(p, thisNonce)), `case ${i}.${k}`);
        if (thisNonce) assert.deepEqual(Buffer.from(nonceExtensionDer(thisNonce)), Buffer.from(AsnConvert.serialize(nonceExtension(thisNonce))));
        n++;
      }
    }
    const after = responseDataLayoutStats();
    assert.ok(after.hits - before.hits >= n / 4, `layouts used for at least a quarter of ${n} encodings (${after.hits - before.hits})`);
    assert.equal(after.refused, before.refused, 'no layout failed its check');
  });

  it('refuses the layout when a one-byte serial equals the bytes before it (02 01 02), and still encodes it right', () => {
    // Layouts are kept per process: nonce lengths no other test pairs with a one-byte serial make the shapes new here.
    for (const [hex, nonceLength] of [['02', 7], ['01', 9]] as const) {
      const before = responseDataLayoutStats();
      const r: SingleResponseParts = { ...single(1, { type: 'good' }), serial: hexToSerial(hex) };
      for (let k = 0; k < 3; k++) {
        const nonce = randomBytes(nonceLength);
        const p: ResponseDataParts = {
          responderKeyHash: randomBytes(20), producedAt: second(Date.UTC(2026, 11, 7, 4, 5, 6)),
          responses: [{ ...r, issuerNameHash: randomBytes(20), issuerKeyHash: randomBytes(20) }], extensions: [nonceExtensionDer(nonce)],
        };
        assert.deepEqual(Buffer.from(encodeResponseData(p)), Buffer.from(reference(p, nonce)), `serial ${hex}, ${k}`);
      }
      const after = responseDataLayoutStats();
      assert.equal(after.refused - before.refused, 1, `serial ${hex}: the layout found at the coincidental earlier byte is refused`);
      assert.equal(after.kept - before.kept, 0);
    }
  });

  it('encodes the nonce extension as asn1-x509 does, and refuses a nonce out of RFC 8954 bounds', () => {
    for (const n of [1, 8, 32]) {
      const nonce = randomBytes(n);
      assert.deepEqual(Buffer.from(nonceExtensionDer(nonce)), Buffer.from(AsnConvert.serialize(nonceExtension(nonce))));
    }
    assert.throws(() => nonceExtensionDer(new Uint8Array(0)));
    assert.throws(() => nonceExtensionDer(new Uint8Array(33)));
  });
});
