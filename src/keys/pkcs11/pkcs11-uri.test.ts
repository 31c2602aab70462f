import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatPkcs11Uri, matchesToken, parsePkcs11Uri, Pkcs11UriError, type TokenView } from './pkcs11-uri.js';

const view: TokenView = {
  slotId: 1442781770n, slotDescription: 'SoftHSM slot ID 0x55ff1a4a                                      ', slotManufacturer: 'SoftHSM project                 ',
  label: 'My CA token                     ', manufacturer: 'SoftHSM project                 ', model: 'SoftHSM v2      ', serial: '2e234337d5ff1a4a',
  libraryManufacturer: 'SoftHSM                         ', libraryDescription: 'Implementation of PKCS11         ', libraryVersion: { major: 2, minor: 6 },
};

describe('RFC 7512 pkcs11: URIs', () => {
  it('parses path attributes, percent-decoding text as UTF-8 and id as bytes', () => {
    const u = parsePkcs11Uri('pkcs11:token=My%20CA%20token;manufacturer=SoftHSM%20project;serial=2e234337d5ff1a4a;model=SoftHSM%20v2;slot-id=1442781770;object=r%C3%A9seau;id=%01%a2%FF;type=private');
    assert.equal(u.token, 'My CA token');
    assert.equal(u.manufacturer, 'SoftHSM project');
    assert.equal(u.serial, '2e234337d5ff1a4a');
    assert.equal(u.model, 'SoftHSM v2');
    assert.equal(u.slotId, 1442781770n);
    assert.equal(u.object, 'réseau');
    assert.deepEqual([...u.id!], [0x01, 0xa2, 0xff]);
    assert.equal(u.type, 'private');
  });

  it('parses the examples of RFC 7512 section 3', () => {
    assert.deepEqual(parsePkcs11Uri('pkcs11:'), { vendor: {} });
    const a = parsePkcs11Uri('pkcs11:object=my-pubkey;type=public');
    assert.equal(a.object, 'my-pubkey');
    assert.equal(a.type, 'public');
    const b = parsePkcs11Uri('pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin');
    assert.equal(b.token, 'The Software PKCS#11 Softtoken');
    assert.equal(b.manufacturer, 'Snake Oil, Inc.');
    assert.equal(b.serial, '');
    assert.equal(b.pinSource, 'file:/etc/token_pin');
    assert.equal(Buffer.from(b.id!).toString('hex'), '69953e5cf4bdec91');
    const c = parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-name=mypkcs11');
    assert.equal(c.moduleName, 'mypkcs11');
    const d = parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1');
    assert.equal(d.modulePath, '/mnt/libmypkcs11.so.1');
    const e = parsePkcs11Uri('pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin');
    assert.equal(e.pinValue, 'the-pin');
    const f = parsePkcs11Uri('pkcs11:slot-description=Sun%20Metaslot');
    assert.equal(f.slotDescription, 'Sun Metaslot');
    const g = parsePkcs11Uri('pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23');
    assert.equal(g.libraryVersion, '1.23');
    const h = parsePkcs11Uri('pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert');
    assert.equal(h.token, 'A name with a substring %;');
    const i = parsePkcs11Uri('pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert');
    assert.equal(i.token, 'Name with a small A with acute: á');
    const j = parsePkcs11Uri('pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token&vendor-bbb=value-b'.replace(/vendor-/g, 'x-vendor-'));
    assert.deepEqual(j.vendor, { 'x-vendor-aaa': 'value-a', 'x-vendor-bbb': 'value-b' });
  });

  it('refuses malformed URIs with a message naming the problem', () => {
    const bad: Array<[string, RegExp]> = [
      ['token=x', /must start with "pkcs11:"/],
      ['pkcs11:tokn=x', /unknown path attribute "tokn"/],
      ['pkcs11:token=a;token=b', /token appears more than once/],
      ['pkcs11:token=My Token', /character " " must be percent-encoded \(write %20\)/],
      ['pkcs11:token=x;;serial=1', /empty path attribute/],
      ['pkcs11:token=x;', /empty path attribute/],
      ['pkcs11:id=%zz', /"%" must be followed by two hex digits/],
      ['pkcs11:slot-id=0x1', /slot-id must be a decimal number/],
      ['pkcs11:type=secret', /type must be one of public, private, cert, secret-key, data/],
      ['pkcs11:token', /must be name=value/],
      ['pkcs11:token=%C3%28', /not valid UTF-8/],
      ['pkcs11:token=x?pin-value=1&pin-source=/f', /pin-value and pin-source cannot both be given/],
      ['pkcs11:token=x?pin=1', /unknown query attribute "pin"/],
      ['pkcs11:library-version=1.x', /library-version must be/],
      ['pkcs11:token=x#frag', /fragments/],
    ];
    for (const [uri, re] of bad) {
      assert.throws(() => parsePkcs11Uri(uri), (e: Error) => e instanceof Pkcs11UriError && re.test(e.message), uri);
    }
  });

  it('never repeats a pin-value in an error message', () => {
    assert.throws(() => parsePkcs11Uri('pkcs11:tokn=x?pin-value=s3cret'), (e: Error) => !e.message.includes('s3cret') && e.message.includes('pin-value=***'));
  });

  it('matches tokens on blank-padded token, slot and library fields', () => {
    assert.ok(matchesToken(parsePkcs11Uri('pkcs11:token=My%20CA%20token'), view));
    assert.ok(matchesToken(parsePkcs11Uri('pkcs11:serial=2e234337d5ff1a4a;model=SoftHSM%20v2;manufacturer=SoftHSM%20project'), view));
    assert.ok(matchesToken(parsePkcs11Uri('pkcs11:slot-id=1442781770'), view));
    assert.ok(matchesToken(parsePkcs11Uri('pkcs11:library-version=2'), view));
    assert.ok(matchesToken(parsePkcs11Uri('pkcs11:library-version=2.6;library-manufacturer=SoftHSM'), view));
    assert.ok(matchesToken(parsePkcs11Uri('pkcs11:token=My%20CA%20token;object=root;id=%01'), view), 'object attributes do not restrict the token');
    assert.ok(!matchesToken(parsePkcs11Uri('pkcs11:token=My%20CA'), view), 'no prefix match');
    assert.ok(!matchesToken(parsePkcs11Uri('pkcs11:token=My%20CA%20token;serial=0000'), view));
    assert.ok(!matchesToken(parsePkcs11Uri('pkcs11:slot-id=2'), view));
    assert.ok(!matchesToken(parsePkcs11Uri('pkcs11:library-version=2.5'), view));
  });

  it('formats key references that parse back to the same attributes', () => {
    const id = new Uint8Array([0, 1, 0xfe, 0xff, 0x25]);
    const ref = formatPkcs11Uri({ type: 'private', id, object: 'root; "CA" 100% (é)' });
    assert.match(ref, /^pkcs11:[A-Za-z0-9%=;._~-]+$/);
    const back = parsePkcs11Uri(ref);
    assert.deepEqual([...back.id!], [...id]);
    assert.equal(back.object, 'root; "CA" 100% (é)');
    assert.equal(back.type, 'private');
  });
});
