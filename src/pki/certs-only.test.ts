import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, SignedData, id_signedData } from '@peculiar/asn1-cms';
import { mustOpenssl } from '../../test/helpers/openssl.js';
import { certsOfCertsOnly, certsOnly } from './certs-only.js';
import { csrAttrsDer, csrAttrsOids } from './csr-attrs.js';
import { OID } from './algorithms.js';

/** A certificate made by openssl (not by this code), with a multi-attribute subject and an RSA key. */
function opensslCert(subj: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-certs-only-'));
  try {
    mustOpenssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-subj', subj, '-days', '1',
      '-addext', 'subjectAltName=DNS:a.example.test,IP:192.0.2.1', '-outform', 'DER', '-out', join(dir, 'c.der')]);
    return new Uint8Array(readFileSync(join(dir, 'c.der')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('certs-only: a signedData without signers or content, carrying the certificates byte for byte, in order', () => {
  const a = opensslCert('/CN=a/O=Example/C=XX');
  const b = opensslCert('/CN=b');
  const der = certsOnly([a, b]);
  const info = AsnConvert.parse(der, ContentInfo);
  assert.equal(info.contentType, id_signedData);
  const sd = AsnConvert.parse(info.content, SignedData);
  assert.equal(sd.signerInfos.length, 0);
  assert.equal(sd.digestAlgorithms.length, 0);
  assert.equal(sd.encapContentInfo.eContent, undefined);
  assert.deepEqual(certsOfCertsOnly(der).map((c) => Buffer.from(c).toString('hex')), [a, b].map((c) => Buffer.from(c).toString('hex')));
});

test('csrattrs: the preferred key type and its signature algorithm', () => {
  assert.deepEqual(csrAttrsOids(csrAttrsDer({ ecdsaCurves: ['P-384'], rsa: true })), [OID.ecPublicKey, OID.ecdsaWithSha384]);
  assert.deepEqual(csrAttrsOids(csrAttrsDer({ ecdsaCurves: null, rsa: true })), [OID.rsaEncryption, OID.sha256WithRsa]);
  assert.deepEqual(csrAttrsOids(csrAttrsDer({ ecdsaCurves: null, rsa: false })), []);
});
