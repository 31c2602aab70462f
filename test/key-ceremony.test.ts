/**
 * Key custody end to end through the CLI on a fresh data directory: back the
 * issuing CA key up to five custodians, lose the key, watch issuance fail,
 * run the restore ceremony with three share files (after a refused attempt
 * with a corrupted share), and issue again: openssl chains the new
 * certificate to the ORIGINAL CA certificate. The audit chain verifies and
 * holds every ceremony step. Also: sealed shares with passphrase files, and
 * the interactive ceremony on a real terminal (a pty from script(1)) without
 * echo.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RAMPART_BIN, removeDir, tempDir } from './helpers/node-process.js';
import { mustOpenssl } from './helpers/openssl.js';

const CUSTODIANS = ['alice', 'bob', 'carol', 'dave', 'erin'];

function rampart(dataDir: string, args: string[], input?: string) {
  const r = spawnSync(process.execPath, [RAMPART_BIN, '--data-dir', dataDir, ...args], { encoding: 'utf8', input, env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function json(dataDir: string, args: string[], input?: string) {
  const r = rampart(dataDir, ['--json', ...args], input);
  assert.equal(r.code, 0, `rampart ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

function pems(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
}

function auditRows(dataDir: string): Array<{ action: string; outcome: string; details: Record<string, unknown> }> {
  const db = new Database(join(dataDir, 'rampart.db'), { readonly: true });
  try {
    return (db.prepare('SELECT action, outcome, details FROM audit_log ORDER BY seq').all() as Array<{ action: string; outcome: string; details: string }>)
      .map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
  } finally {
    db.close();
  }
}

/** Runs a command on a pseudo-terminal (script(1)); answers each prompt matching `when` with the next input. */
function onTerminal(cmd: string[], answers: Array<{ when: RegExp; send: string }>): Promise<{ code: number; output: string }> {
  const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RAMPART_LOG__LEVEL: 'warn' } });
    let output = '';
    let next = 0;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`terminal session timed out:\n${output}`)); }, 90_000);
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const a = answers[next];
      if (!a) return;
      const shown = output.match(new RegExp(a.when.source, 'g'))?.length ?? 0;
      const answered = answers.slice(0, next).filter((x) => x.when.source === a.when.source).length;
      if (shown > answered) {
        next++;
        // Typed a moment after the prompt, as a person would (the terminal is in no-echo mode by then).
        setTimeout(() => child.stdin.write(a.send.replace(/\n/g, '\r')), 150);
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, output }); });
  });
}

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

describe('key custody ceremony (CLI, SQLite data directory, software keys)', () => {
  let dataDir: string;
  let dir: string;
  let backupFile: string;
  let shareFiles: string[];
  let rootPem: string;
  let originalIntPem: string;
  let issuingId: string;

  before(() => {
    dataDir = tempDir('rampart-ceremony-data-');
    dir = tempDir('rampart-ceremony-');
  });
  after(() => { removeDir(dataDir); removeDir(dir); });

  it('init, then back up the issuing CA key to five custodians (3 of 5)', () => {
    json(dataDir, ['init']);
    const cas = pems(rampart(dataDir, ['ca', '--pem']).stdout);
    assert.equal(cas.length, 2, 'root and issuing CA');
    [rootPem, originalIntPem] = cas as [string, string];
    writeFileSync(join(dir, 'root.pem'), rootPem);
    writeFileSync(join(dir, 'int-original.pem'), originalIntPem);

    const t0 = Date.now();
    const b = json(dataDir, ['key', 'backup', ...CUSTODIANS.flatMap((c) => ['--custodian', c]), '--out-dir', join(dir, 'backup')]);
    const ms = Date.now() - t0;
    issuingId = b.issuerId;
    assert.equal(b.threshold, 3);
    assert.equal(b.shares, 5);
    assert.deepEqual(b.custodians.map((c: { custodian: string }) => c.custodian), CUSTODIANS);
    backupFile = b.backupFile;
    shareFiles = b.custodians.map((c: { location: string }) => c.location);
    for (const f of shareFiles) {
      assert.equal(statSync(f).mode & 0o777, 0o600, `${f} is private`);
      assert.match(readFileSync(f, 'utf8'), /^-----BEGIN RAMPART KEY SHARE-----\n/);
    }
    assert.equal(statSync(join(dir, 'backup')).mode & 0o777, 0o700);
    const record = readFileSync(b.record, 'utf8');
    assert.match(record, /RAMPART KEY BACKUP CEREMONY RECORD/);
    for (const c of CUSTODIANS) assert.match(record, new RegExp(`share \\d of 5 to custodian ${c}`));
    assert.ok(!readFileSync(backupFile, 'utf8').includes('PRIVATE'));
    // Re-running into the same directory never overwrites shares.
    const again = rampart(dataDir, ['key', 'backup', ...CUSTODIANS.flatMap((c) => ['--custodian', c]), '--out-dir', join(dir, 'backup')]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readdirSync(join(dir, 'backup')).filter((f) => f.includes('.share-')).length, 10);
    console.log(`# key backup (3 of 5, CLI process): ${ms} ms`);
  });

  it('refuses unusable requests clearly', () => {
    const wrongCount = rampart(dataDir, ['key', 'backup', '--custodian', 'alice', '--custodian', 'bob', '--out-dir', join(dir, 'x')]);
    assert.notEqual(wrongCount.code, 0);
    assert.match(wrongCount.stderr, /name exactly 5 custodians, one per share \(got 2\)/);
    const k = rampart(dataDir, ['key', 'backup', '--threshold', '1', '--shares', '2', '--custodian', 'a', '--custodian', 'b']);
    assert.match(k.stderr, /threshold must be 2\.\.2/);
    const notBackup = rampart(dataDir, ['key', 'restore', '--backup', shareFiles[0]!, '--share-file', shareFiles[1]!]);
    assert.match(notBackup.stderr, /is not a Rampart key backup file/);
    const present = rampart(dataDir, ['key', 'restore', '--backup', backupFile, ...shareFiles.slice(0, 3).flatMap((f) => ['--share-file', f])]);
    assert.notEqual(present.code, 0);
    assert.match(present.stderr, /is present in this node's software backend: nothing to restore/);
  });

  it('a verify-only drill with three shares changes nothing', () => {
    const before = json(dataDir, ['key', 'list']);
    const r = json(dataDir, ['key', 'restore', '--verify-only', '--backup', backupFile, ...[shareFiles[0]!, shareFiles[2]!, shareFiles[4]!].flatMap((f) => ['--share-file', f])]);
    assert.equal(r.verifyOnly, true);
    assert.equal(r.keyRef, null);
    assert.deepEqual(json(dataDir, ['key', 'list']), before);
  });

  it('losing the key stops issuance; a ceremony with a corrupted share is refused, naming it; three good shares restore the key', () => {
    const issued = rampart(dataDir, ['issue', '--cn', 'before.example.test', '--out', join(dir, 'before')]);
    assert.equal(issued.code, 0, issued.stderr);

    const list = json(dataDir, ['key', 'list']);
    const int = list.keys.find((k: { id: string }) => k.id === issuingId);
    assert.equal(int.present, true);
    unlinkSync(join(dataDir, 'keys', `${int.keyRef}.key.json`));
    assert.equal(json(dataDir, ['key', 'list']).keys.find((k: { id: string }) => k.id === issuingId).present, false);
    const fails = rampart(dataDir, ['issue', '--cn', 'lost.example.test']);
    assert.notEqual(fails.code, 0, 'issuance fails without the key');
    assert.match(fails.stderr, /key not found/);

    // Bob's share got a flipped bit.
    const bobText = Buffer.from(readFileSync(shareFiles[1]!));
    const at = bobText.indexOf('\n\n') + 4;
    bobText[at] = bobText[at]! ^ 0x02;
    const damaged = join(dir, 'bob-damaged.txt');
    writeFileSync(damaged, bobText);
    const bad = rampart(dataDir, ['key', 'restore', '--backup', backupFile, '--share-file', shareFiles[0]!, '--share-file', damaged, '--share-file', shareFiles[3]!]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /share 2 \(custodian bob, from bob-damaged\.txt\) is corrupted: checksum mismatch/);
    assert.match(bad.stderr, /need 3 shares, have 2/);
    assert.match(bad.stdout, /Outcome: +FAILED: need 3 shares, have 2/);

    const t0 = Date.now();
    const r = json(dataDir, ['key', 'restore', '--backup', backupFile, ...[shareFiles[0]!, shareFiles[3]!, shareFiles[4]!].flatMap((f) => ['--share-file', f])]);
    console.log(`# key restore (3 share files, CLI process): ${Date.now() - t0} ms`);
    assert.equal(r.verifyOnly, false);
    assert.equal(r.backend, 'software');
    assert.equal(r.previousKeyRef, int.keyRef);
    assert.match(r.keyRef, /^intermediate-restored-/);
    assert.deepEqual(r.shares.map((s: { custodian: string }) => s.custodian), ['alice', 'dave', 'erin']);
    assert.ok(existsSync(r.record), 'ceremony record written next to the backup file');
    const record = readFileSync(r.record, 'utf8');
    assert.match(record, /RAMPART KEY RESTORE CEREMONY RECORD/);
    assert.match(record, /Outcome: +SUCCESS: key restored/);
    for (const c of ['alice', 'dave', 'erin']) assert.match(record, new RegExp(`^  ${c}: +_+`, 'm'));
    assert.ok(!shareFiles.some((f) => record.includes(readFileSync(f, 'utf8').split('\n\n')[1]!.split('\n')[0]!)), 'no share data in the record');
    const after = json(dataDir, ['key', 'list']).keys.find((k: { id: string }) => k.id === issuingId);
    assert.equal(after.present, true);
    assert.equal(after.keyRef, r.keyRef);
  });

  it('issuance works again and openssl chains the new certificate to the ORIGINAL CA certificates', () => {
    const issued = rampart(dataDir, ['issue', '--cn', 'after.example.test', '--san', 'after.example.test', '--out', join(dir, 'after')]);
    assert.equal(issued.code, 0, issued.stderr);
    assert.match(mustOpenssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int-original.pem'), join(dir, 'after.crt')]), /after\.crt: OK/);
    assert.match(mustOpenssl(['verify', '-partial_chain', '-CAfile', join(dir, 'int-original.pem'), join(dir, 'after.crt')]), /after\.crt: OK/, 'signed by the original issuing CA key');
    const chain = pems(readFileSync(join(dir, 'after.chain.pem'), 'utf8'));
    assert.equal(chain[1], originalIntPem, 'the chain carries the original CA certificate');
    assert.deepEqual(pems(rampart(dataDir, ['ca', '--pem']).stdout), [rootPem, originalIntPem], 'no CA certificate changed');
  });

  it('the audit chain verifies and holds every ceremony step, never a share', () => {
    const v = json(dataDir, ['audit', 'verify']);
    assert.equal(v.ok, true);
    const rows = auditRows(dataDir);
    const count = (action: string, outcome?: string) => rows.filter((r) => r.action === action && (!outcome || r.outcome === outcome)).length;
    assert.equal(count('key.backup', 'success'), 2);
    assert.equal(count('key.backup.share'), 10);
    assert.ok(count('key.restore.begin') >= 3);
    const shareSteps = rows.filter((r) => r.action === 'key.restore.share');
    assert.ok(shareSteps.some((r) => r.outcome === 'failure' && r.details.problem === 'corrupted' && r.details.source === 'bob-damaged.txt'));
    assert.ok(shareSteps.filter((r) => r.outcome === 'success').every((r) => typeof r.details.custodian === 'string' && typeof r.details.index === 'number'));
    assert.equal(count('key.restore.reconstruct', 'failure'), 1);
    assert.ok(count('key.restore.verify', 'success') >= 2);
    const restored = rows.filter((r) => r.action === 'key.restore' && r.outcome === 'success' && !r.details.verifyOnly);
    assert.equal(restored.length, 1);
    assert.match(String(restored[0]!.details.keyRef), /^intermediate-restored-/);
    const all = JSON.stringify(rows);
    for (const f of shareFiles) assert.ok(!all.includes(readFileSync(f, 'utf8').split('\n\n')[1]!.split('\n')[0]!), 'no share data in the audit log');
  });

  it('sealed shares: passphrase files for scripts; a wrong passphrase is refused; piped shares on stdin', () => {
    const pass = (n: string) => { const f = join(dir, `${n}.pass`); writeFileSync(f, `${n} has a long passphrase\n`, { mode: 0o600 }); return f; };
    const b = json(dataDir, ['key', 'backup', '--threshold', '2', '--shares', '3', '--custodian', 'ana', '--custodian', 'ben', '--custodian', 'cat',
      '--seal-with-passphrases', '--passphrase-file', `ana=${pass('ana')}`, '--passphrase-file', `ben=${pass('ben')}`, '--passphrase-file', `cat=${pass('cat')}`,
      '--print', '--out-dir', join(dir, 'sealed')]);
    assert.ok(b.custodians.every((c: { location: string; sealed: boolean }) => c.location === 'printed' && c.sealed));
    assert.equal(readdirSync(join(dir, 'sealed')).filter((f) => f.includes('.share-')).length, 0, '--print writes no share files');
    const texts: string[] = b.custodians.map((c: { share: string }) => c.share);
    assert.ok(texts.every((t) => /^Sealed: yes$/m.test(t)));
    texts.forEach((t, i) => writeFileSync(join(dir, `sealed-${i + 1}.txt`), t));

    const noPass = rampart(dataDir, ['key', 'restore', '--verify-only', '--backup', b.backupFile, '--share-file', join(dir, 'sealed-1.txt'), '--share-file', join(dir, 'sealed-3.txt')]);
    assert.notEqual(noPass.code, 0);
    assert.match(noPass.stderr, /share 1 \(custodian ana, from sealed-1\.txt\) is sealed: the custodian's passphrase is needed/);
    const wrongFile = join(dir, 'wrong.pass');
    writeFileSync(wrongFile, 'not the right passphrase\n');
    const wrong = rampart(dataDir, ['key', 'restore', '--verify-only', '--backup', b.backupFile, '--share-file', join(dir, 'sealed-1.txt'), '--share-file', join(dir, 'sealed-3.txt'),
      '--passphrase-file', `ana=${wrongFile}`, '--passphrase-file', `cat=${pass('cat')}`]);
    assert.match(wrong.stderr, /share 1 \(custodian ana, from sealed-1\.txt\): wrong passphrase/);
    assert.match(wrong.stderr, /need 2 shares, have 1/);
    const ok = json(dataDir, ['key', 'restore', '--verify-only', '--backup', b.backupFile, '--share-file', join(dir, 'sealed-1.txt'), '--share-file', join(dir, 'sealed-3.txt'),
      '--passphrase-file', `ana=${pass('ana')}`, '--passphrase-file', `cat=${pass('cat')}`]);
    assert.equal(ok.verifyOnly, true);
    // The interactive ceremony from a pipe: share, then its passphrase, in turn.
    const piped = json(dataDir, ['key', 'restore', '--verify-only', '--backup', b.backupFile], `${texts[1]}ben has a long passphrase\n\n${texts[2]}cat has a long passphrase\n`);
    assert.deepEqual(piped.shares.map((s: { custodian: string }) => s.custodian), ['ben', 'cat']);
  });

  it('on a terminal, pasted shares and typed passphrases are not echoed', { skip: !hasScript && 'script(1) not installed' }, async () => {
    // Backup sealed with passphrases typed at the terminal (twice each).
    const answers = ['ana', 'ben', 'cat'].flatMap((n) => [
      { when: /Passphrase for \S+ share/, send: `${n} typed passphrase\n` }, { when: /Again, to confirm/, send: `${n} typed passphrase\n` },
    ]);
    const bk = await onTerminal([process.execPath, RAMPART_BIN, '--data-dir', dataDir, 'key', 'backup', '--threshold', '2', '--shares', '3',
      '--custodian', 'ana', '--custodian', 'ben', '--custodian', 'cat', '--seal-with-passphrases', '--out-dir', join(dir, 'tty')], answers);
    assert.equal(bk.code, 0, bk.output);
    assert.ok(!bk.output.includes('typed passphrase'), `passphrases echoed:\n${bk.output}`);
    const files = readdirSync(join(dir, 'tty'));
    const backup = join(dir, 'tty', files.find((f) => f.endsWith('.backup.json'))!);
    const shares = files.filter((f) => f.includes('.share-')).sort().map((f) => readFileSync(join(dir, 'tty', f), 'utf8'));
    const r = await onTerminal([process.execPath, RAMPART_BIN, '--data-dir', dataDir, 'key', 'restore', '--verify-only', '--record', '-', '--backup', backup], [
      { when: /paste your share/, send: shares[0]! }, { when: /the passphrase of your share/, send: 'ana typed passphrase\n' },
      { when: /paste your share/, send: shares[2]! }, { when: /the passphrase of your share/, send: 'cat typed passphrase\n' },
    ]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS \(drill\)/);
    assert.ok(!r.output.includes('typed passphrase'), 'passphrases not echoed');
    for (const s of shares) assert.ok(!r.output.includes(s.split('\n\n')[1]!.split('\n')[0]!), 'share data not echoed');
  });
});
