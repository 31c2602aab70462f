/**
 * The share text format: round trip, tolerance for what copying does to text
 * (CRLF, indentation, several blocks in one paste), and that every single
 * flipped bit anywhere in a block is refused with the share named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CustodyError } from './custody-error.js';
import { SHARE_BEGIN, SHARE_END, formatShare, parseShares, shareChecksum, type ShareHeader } from './share-format.js';
import { sealShare, unsealShare } from './share-sealing.js';

const header: ShareHeader = {
  backupId: 'kb-20260101-0a1b2c3d', issuerId: 'int-0123456789-abcdefgh', subject: 'CN=Example Issuing CA, O=Example', custodian: 'bob',
  index: 2, count: 5, threshold: 3, sealed: false, created: '2026-01-01T00:00:00.000Z',
};

test('a share block round-trips and reads like a document', () => {
  const data = randomBytes(33);
  const text = formatShare(header, data);
  assert.ok(text.startsWith(`${SHARE_BEGIN}\n`) && text.endsWith(`${SHARE_END}\n`));
  assert.match(text, /^Custodian: bob$/m);
  assert.match(text, /^Share: 2 of 5$/m);
  assert.match(text, /^Threshold: 3$/m);
  assert.match(text, /^Sealed: no$/m);
  const [b] = parseShares(text, 'bob.txt');
  assert.deepEqual({ ...b!, data: undefined, checksum: undefined, source: undefined }, { ...header, data: undefined, checksum: undefined, source: undefined });
  assert.deepEqual(Buffer.from(b!.data), data);
  assert.equal(b!.checksum, shareChecksum(text));
  assert.equal(b!.source, 'bob.txt');
});

test('CRLF line ends, indentation, surrounding text and several blocks in one paste are fine', () => {
  const one = formatShare(header, randomBytes(33));
  const two = formatShare({ ...header, custodian: 'carol', index: 3 }, randomBytes(33));
  const mangled = `Hi, here are the shares:\r\n\r\n${one.split('\n').map((l) => `    ${l}`).join('\r\n')}\r\n-- \r\n${two}`;
  const blocks = parseShares(mangled, 'mail.txt');
  assert.deepEqual(blocks.map((b) => b.custodian), ['bob', 'carol']);
  assert.deepEqual(blocks.map((b) => b.source), ['mail.txt, block 1', 'mail.txt, block 2']);
});

test('every single flipped bit inside a share block is refused, naming the share where the header still says who', () => {
  const text = formatShare(header, randomBytes(33));
  const start = text.indexOf(SHARE_BEGIN);
  const end = text.indexOf(SHARE_END) + SHARE_END.length;
  // From the share data to the end of the checksum value the header is intact: the error must name the share.
  const dataStart = text.indexOf('\n\n') + 2;
  const dataEnd = text.indexOf(`\n${SHARE_END}`);
  let flips = 0;
  let named = 0;
  for (let i = start; i < end; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bytes = Buffer.from(text, 'latin1');
      bytes[i] = bytes[i]! ^ (1 << bit);
      flips++;
      assert.throws(() => parseShares(bytes.toString('latin1'), 'bob.txt'), (e: unknown) => {
        assert.ok(e instanceof CustodyError, `flip at ${i}/${bit}: ${String(e)}`);
        assert.ok(['corrupted', 'format'].includes(e.problem), `flip at ${i}/${bit}: ${e.problem}`);
        assert.match(e.message, /bob\.txt/);
        if (i >= dataStart && i < dataEnd) {
          assert.match(e.message, /share 2 \(custodian bob, from bob\.txt\) is corrupted/, `flip at ${i}/${bit}`);
          named++;
        }
        return true;
      }, `flip of bit ${bit} at offset ${i} (${JSON.stringify(text[i])}) was accepted`);
    }
  }
  assert.equal(flips, (end - start) * 8);
  assert.equal(named, (dataEnd - dataStart) * 8);
});

test('a flipped bit in the share data is reported as corruption of that custodian\'s share', () => {
  const text = formatShare(header, randomBytes(33));
  const lines = text.split('\n');
  const dataLine = lines.findIndex((l) => l === '') + 1;
  const b = Buffer.from(lines[dataLine]!, 'latin1');
  b[5] = b[5]! ^ 0x01;
  lines[dataLine] = b.toString('latin1');
  assert.throws(() => parseShares(lines.join('\n'), 'bob.txt'), /share 2 \(custodian bob, from bob\.txt\) is corrupted: checksum mismatch/);
});

test('damaged frames and non-shares get clear messages', () => {
  const text = formatShare(header, randomBytes(33));
  assert.throws(() => parseShares('hello', 'x.txt'), /x\.txt: no "-----BEGIN RAMPART KEY SHARE-----" block found/);
  assert.throws(() => parseShares(text.replace(SHARE_END, ''), 'x.txt'), /not terminated/);
  assert.throws(() => parseShares(text.replace(/^Checksum:.*$/m, ''), 'x.txt'), /is corrupted: its last line must be "Checksum/);
  assert.throws(() => parseShares(`${text}\n${text.replace(SHARE_BEGIN, '')}`, 'x.txt'), /without a matching BEGIN/);
});

test('sealed shares: the passphrase opens only this share of this backup', () => {
  const share = randomBytes(33);
  const pass = Buffer.from('correct horse battery staple');
  const sealed = sealShare(pass, share, header.backupId, 2);
  const who = { backupId: header.backupId, index: 2, custodian: 'bob', source: 'bob.txt' };
  assert.deepEqual(Buffer.from(unsealShare(pass, sealed, who)), share);
  assert.throws(() => unsealShare(Buffer.from('wrong horse battery staple'), sealed, who), /share 2 \(custodian bob, from bob\.txt\): wrong passphrase/);
  assert.throws(() => unsealShare(pass, sealed, { ...who, index: 3 }), /wrong passphrase/, 'bound to the index');
  assert.throws(() => unsealShare(pass, sealed, { ...who, backupId: 'kb-20260101-ffffffff' }), /wrong passphrase/, 'bound to the backup');
  const text = formatShare({ ...header, sealed: true }, sealed);
  const [b] = parseShares(text, 'bob.txt');
  assert.equal(b!.sealed, true);
  assert.deepEqual(Buffer.from(unsealShare(pass, b!.data, who)), share);
});
