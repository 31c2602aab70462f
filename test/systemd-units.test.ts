/**
 * The systemd units in deploy/systemd/ (the node, the instance template for
 * several nodes on a host, the scheduled DR drill service and timer):
 * - `systemd-analyze verify` accepts each of them (templates as an instance).
 *   verify also checks that the ExecStart binary exists: it is /bin/sh (the
 *   line reads the encrypted credential into the environment, then execs
 *   /usr/bin/node). A copy whose ExecStart names a missing binary is refused,
 *   which shows the check is real. /opt/rampart itself (the installed
 *   checkout) is not present here and not checked.
 * - `systemd-analyze security --offline=true` rates each service at an
 *   exposure of 2.0 or lower (MAX_EXPOSURE; 1.3 when written), and the
 *   hardening the brief names is there (own user, ProtectSystem=strict,
 *   NoNewPrivileges, one read-write path, empty capability bounding set,
 *   restart policy with start limits). The same unit with its hardening
 *   section removed scores above the bound, so the bound can fail.
 * - The ExecStart shell line, as systemd hands it to /bin/sh ($$ unescaped),
 *   puts the decrypted credential's contents into RAMPART_KEY_PASSPHRASE
 *   unchanged (run for real with `exec printenv` in place of node).
 * systemd is not PID 1 on the test machine; both commands work on unit files.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireCommand } from './helpers/debian.js';

const UNITS_DIR = fileURLToPath(new URL('../deploy/systemd/', import.meta.url));
/** The exposure bound stated in docs/runbooks/operations.md. */
const MAX_EXPOSURE = 2.0;

function analyze(args: string[], cwd: string): { code: number | null; output: string } {
  const bin = requireCommand('systemd-analyze', 'systemd');
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' } });
  if (r.error) throw r.error;
  return { code: r.status, output: `$ systemd-analyze ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function exposure(dir: string, unit: string): number {
  const r = analyze(['security', '--offline=true', '--no-pager', join(dir, unit)], dir);
  assert.equal(r.code, 0, r.output);
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.output);
  assert.ok(m, r.output);
  return Number(m[1]);
}

describe('systemd units (deploy/systemd)', () => {
  const tmp: string[] = [];
  after(() => {
    for (const d of tmp) rmSync(d, { recursive: true, force: true });
  });
  /** The units copied to a temporary directory, with one instance of each template. */
  const tree = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-units-'));
    tmp.push(dir);
    for (const f of readdirSync(UNITS_DIR)) copyFileSync(join(UNITS_DIR, f), join(dir, f));
    symlinkSync('rampart@.service', join(dir, 'rampart@node2.service'));
    symlinkSync('rampart-drill@.service', join(dir, 'rampart-drill@restore-latest.service'));
    symlinkSync('rampart-drill@.timer', join(dir, 'rampart-drill@restore-latest.timer'));
    return dir;
  };
  const SERVICES = ['rampart.service', 'rampart@node2.service', 'rampart-drill@restore-latest.service'];

  it('ships the node, the instance template and the drill service and timer', () => {
    assert.deepEqual(readdirSync(UNITS_DIR).sort(), ['rampart-drill@.service', 'rampart-drill@.timer', 'rampart.service', 'rampart@.service']);
  });

  it('systemd-analyze verify accepts every unit', () => {
    const dir = tree();
    const units = [...SERVICES, 'rampart-drill@restore-latest.timer'];
    const r = analyze(['verify', ...units.map((u) => join(dir, u))], dir);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /warning|error|unknown|ignoring/i, r.output);
  });

  it('systemd-analyze verify refuses a unit whose ExecStart binary is missing', () => {
    const dir = tree();
    const unit = join(dir, 'rampart.service');
    const text = readFileSync(unit, 'utf8');
    assert.equal(text.split('ExecStart=/bin/sh ').length, 2);
    writeFileSync(unit, text.replace('ExecStart=/bin/sh ', 'ExecStart=/nonexistent/rampart-sh '));
    const r = analyze(['verify', unit], dir);
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /nonexistent\/rampart-sh/, r.output);
  });

  for (const unit of SERVICES) {
    it(`${unit}: exposure at or below ${MAX_EXPOSURE} and the required hardening`, () => {
      const dir = tree();
      const score = exposure(dir, unit);
      assert.ok(score <= MAX_EXPOSURE, `exposure ${score} > ${MAX_EXPOSURE}`);
      const text = readFileSync(join(dir, unit), 'utf8');
      for (const line of [
        'User=rampart', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'CapabilityBoundingSet=\n', 'PrivateTmp=yes',
        'ProtectHome=yes', 'SystemCallFilter=@system-service', 'UMask=0077',
      ]) assert.ok(text.includes(line), `${unit} lacks ${JSON.stringify(line)}`);
      const rw = [...text.matchAll(/^ReadWritePaths=(.*)$/gm)].map((m) => m[1]);
      assert.equal(rw.length, 1, 'exactly one ReadWritePaths line');
      assert.match(rw[0]!, /^\/var\/lib\/rampart(\/%i)?$/, 'the only writable path is the data directory');
      assert.doesNotMatch(text, /^EnvironmentFile=/m, 'no clear-text secret file: the passphrase is an encrypted credential');
    });
  }

  it('the node restarts on failure, within start limits', () => {
    for (const unit of ['rampart.service', 'rampart@.service']) {
      const text = readFileSync(join(UNITS_DIR, unit), 'utf8');
      assert.match(text, /^Restart=on-failure$/m, unit);
      assert.match(text, /^RestartSec=5s$/m, unit);
      assert.match(text, /^StartLimitIntervalSec=600$/m, unit);
      assert.match(text, /^StartLimitBurst=5$/m, unit);
    }
  });

  it('the ExecStart line passes the credential to the node as RAMPART_KEY_PASSPHRASE', () => {
    const dir = tree();
    const creds = join(dir, 'creds');
    mkdirSync(creds);
    const secret = 'p4ss phrase with "quotes", $HOME and \\ backslash';
    writeFileSync(join(creds, 'key-passphrase'), secret, { mode: 0o600 });
    for (const unit of ['rampart.service', 'rampart@.service', 'rampart-drill@.service']) {
      const line = /^ExecStart=\/bin\/sh -c '(.*)'$/m.exec(readFileSync(join(UNITS_DIR, unit), 'utf8'));
      assert.ok(line, `${unit}: ExecStart=/bin/sh -c '...'`);
      // What systemd passes to sh: $$ is a literal $, %i the instance name.
      const script = line[1]!.replaceAll('$$', '$').replaceAll('%i', 'node2');
      assert.match(script, / exec \/usr\/bin\/node \/opt\/rampart\/bin\/rampart\.mjs --data-dir \/var\/lib\/rampart(\/node2)? (serve|drill run node2)$/, unit);
      const probe = script.replace(/ exec \/usr\/bin\/node .*$/, ' exec printenv RAMPART_KEY_PASSPHRASE');
      const r = spawnSync('/bin/sh', ['-c', probe], { encoding: 'utf8', env: { PATH: process.env.PATH, CREDENTIALS_DIRECTORY: creds } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${secret}\n`, unit);
    }
  });

  it('without its hardening section the node unit scores above the bound', () => {
    const dir = tree();
    const text = readFileSync(join(dir, 'rampart.service'), 'utf8');
    const start = text.indexOf('# Hardening');
    const end = text.indexOf('[Install]');
    assert.ok(start > 0 && end > start);
    writeFileSync(join(dir, 'weak.service'), text.slice(0, start) + text.slice(end));
    const score = exposure(dir, 'weak.service');
    assert.ok(score > MAX_EXPOSURE, `the unhardened unit scores ${score}`);
  });
});
