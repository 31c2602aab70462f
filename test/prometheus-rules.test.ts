/**
 * The Prometheus alerting rules in deploy/prometheus/ are valid (`promtool
 * check rules`) and behave as their unit tests say (`promtool test rules`):
 * each alert fires when it should and not at its threshold or before its
 * `for` duration. A mutated copy of the rules (one threshold changed in each
 * of several alerts, in one copy so promtool runs once more, not once per
 * alert) must make the unit tests of every one of those alerts fail, which
 * shows they really check the thresholds.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireCommand } from './helpers/debian.js';

const RULES_DIR = fileURLToPath(new URL('../deploy/prometheus/', import.meta.url));
const RULES = join(RULES_DIR, 'rampart-rules.yml');
const RULES_TEST = join(RULES_DIR, 'rampart-rules.test.yml');

function promtool(args: string[]): { code: number | null; output: string } {
  const bin = requireCommand('promtool', 'prometheus');
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, output: `$ promtool ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}` };
}

describe('Prometheus alerting rules (promtool)', () => {
  const tmp: string[] = [];
  after(() => {
    for (const dir of tmp) rmSync(dir, { recursive: true, force: true });
  });

  it('promtool check rules accepts the rules file', () => {
    const r = promtool(['check', 'rules', RULES]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS: 29 rules found/, r.output);
  });

  it('promtool test rules passes the unit tests', () => {
    const r = promtool(['test', 'rules', RULES_TEST]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS/, r.output);
  });

  // [alert whose tests must fail, text in the rules file, its replacement]
  const MUTATIONS: Array<[string, string, string]> = [
    ['RampartReplicationLagWarning', 'max by (region) (rampart_replication_lag_seconds) > 30\n', 'max by (region) (rampart_replication_lag_seconds) > 3000\n'],
    ['RampartHsmUnavailable', 'rampart_health_check_ok{check="keyBackend"} == 0\n', 'rampart_health_check_ok{check="keyBackend"} < 1\n'],
    ['RampartBackupStale', '!= 0) > 25 * 3600', '!= 0) > 24 * 3600'],
    ['RampartDrillOverdue', 'vector(90 * 86400)\n        labels:\n          scenario: database-failover', 'vector(30 * 86400)\n        labels:\n          scenario: database-failover'],
    ['RampartCaCertificateExpiring', ') - time() < 30 * 86400', ') - time() < 31 * 86400'],
    ['RampartOcspSignerNotRenewed', '{kind="ocsp-signer"}) - time() < 5 * 86400', '{kind="ocsp-signer"}) - time() < 6 * 86400'],
    ['RampartOcspErrorRate', '          > 0.05\n', '          > 0.06\n'],
    ['RampartUnhandledErrors', 'increase(rampart_unhandled_errors_total[15m]) > 0', 'increase(rampart_unhandled_errors_total[15m]) > 1'],
    ['RampartDatabaseCorruption', 'expr: rampart_integrity_ok == 0', 'expr: rampart_integrity_ok < 0'],
    ['RampartIntegrityCheckStale', 'rampart_integrity_last_check_timestamp_seconds > 13 * 3600', 'rampart_integrity_last_check_timestamp_seconds > 14 * 3600'],
  ];

  it('the unit tests fail when a threshold is changed (one per alert below)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-promrules-'));
    tmp.push(dir);
    const original = readFileSync(RULES, 'utf8');
    let mutated = original;
    for (const [alert, from, to] of MUTATIONS) {
      assert.equal(mutated.split(from).length, 2, `the threshold of ${alert} (${JSON.stringify(from)}) is not exactly once in the rules file`);
      mutated = mutated.replace(from, to);
    }
    writeFileSync(join(dir, 'rampart-rules.yml'), mutated);
    copyFileSync(RULES_TEST, join(dir, 'rampart-rules.test.yml'));

    // Still a valid rules file: the failures below come from the unit tests.
    const check = promtool(['check', 'rules', join(dir, 'rampart-rules.yml')]);
    assert.equal(check.code, 0, check.output);

    const r = promtool(['test', 'rules', join(dir, 'rampart-rules.test.yml')]);
    assert.notEqual(r.code, 0, `promtool test rules passed with broken thresholds:\n${r.output}`);
    assert.match(r.output, /FAILED/, r.output);
    for (const [alert] of MUTATIONS) {
      assert.match(r.output, new RegExp(`alertname: ${alert},`), `no unit test of ${alert} failed with its threshold changed:\n${r.output}`);
    }
  });
});
