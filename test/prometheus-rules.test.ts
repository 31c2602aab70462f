/**
 * The Prometheus alerting rules in deploy/prometheus/ are valid (`promtool
 * check rules`) and behave as their unit tests say (`promtool test rules`):
 * each alert fires when it should and not at its threshold or before its
 * `for` duration. A mutated copy of the rules (one threshold changed in each
 * of several alerts, in one copy so promtool runs once more, not once per
 * alert) must make the unit tests of every one of those alerts fail, which
 * shows they really check the thresholds.
 *
 * The SLO rules (rampart-slo-rules.yml: recording rules, multi-window
 * multi-burn-rate alerts, error budget) likewise: valid, their unit tests
 * (fast burn pages, slow burn tickets, no burn and no traffic alert nothing)
 * pass, and fail when an objective or a burn-rate factor is changed.
 *
 * The Alertmanager example (deploy/alertmanager/alertmanager.yml) passes
 * `amtool check-config` and routes critical alerts to the pager and
 * warnings to tickets (`amtool config routes test`).
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
const SLO_RULES = join(RULES_DIR, 'rampart-slo-rules.yml');
const SLO_RULES_TEST = join(RULES_DIR, 'rampart-slo-rules.test.yml');
const ALERTMANAGER = fileURLToPath(new URL('../deploy/alertmanager/alertmanager.yml', import.meta.url));

function promtool(args: string[]): { code: number | null; output: string } {
  const bin = requireCommand('promtool', 'prometheus');
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 300_000 });
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

describe('SLO recording rules and burn-rate alerts (promtool)', () => {
  const tmp: string[] = [];
  after(() => {
    for (const dir of tmp) rmSync(dir, { recursive: true, force: true });
  });

  it('promtool check rules accepts the SLO rules file', () => {
    const r = promtool(['check', 'rules', SLO_RULES]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS: 21 rules found/, r.output);
  });

  it('promtool test rules passes: fast burn pages, slow burn tickets, no burn is quiet', () => {
    const r = promtool(['test', 'rules', SLO_RULES_TEST]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS/, r.output);
  });

  // [what must then fail, text in the rules file, its replacement]
  const SLO_MUTATIONS: Array<[RegExp, string, string]> = [
    // validation objective 99.5 % instead of 99.95 %: the fast burn no longer pages, the budget left changes
    [/alertname: RampartSloBurnFast,/, 'vector(0.9995)', 'vector(0.995)'],
    // 3d/6h at burn 3 instead of 1: the slow burn no longer opens a ticket
    [/alertname: RampartSloBurnSlow,/, 'rampart:slo_error_ratio:rate3d > on (slo) (1 - rampart:slo_objective)', 'rampart:slo_error_ratio:rate3d > on (slo) (3 * (1 - rampart:slo_objective))'],
  ];

  it('the unit tests fail when an objective or a burn rate is changed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-slorules-'));
    tmp.push(dir);
    let mutated = readFileSync(SLO_RULES, 'utf8');
    for (const [, from, to] of SLO_MUTATIONS) {
      assert.equal(mutated.split(from).length, 2, `${JSON.stringify(from)} is not exactly once in the SLO rules file`);
      mutated = mutated.replace(from, to);
    }
    writeFileSync(join(dir, 'rampart-slo-rules.yml'), mutated);
    copyFileSync(SLO_RULES_TEST, join(dir, 'rampart-slo-rules.test.yml'));
    assert.equal(promtool(['check', 'rules', join(dir, 'rampart-slo-rules.yml')]).code, 0);
    const r = promtool(['test', 'rules', join(dir, 'rampart-slo-rules.test.yml')]);
    assert.notEqual(r.code, 0, `promtool test rules passed with broken SLO rules:\n${r.output}`);
    for (const [what] of SLO_MUTATIONS) assert.match(r.output, what, r.output);
  });
});

describe('Alertmanager example configuration (amtool)', () => {
  function amtool(args: string[]): { code: number | null; output: string } {
    const bin = requireCommand('amtool', 'prometheus-alertmanager');
    const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 300_000 });
    if (r.error) throw r.error;
    return { code: r.status, output: `$ amtool ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}` };
  }

  it('amtool check-config accepts it', () => {
    const r = amtool(['check-config', ALERTMANAGER]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS/, r.output);
    assert.match(r.output, /2 receivers/, r.output);
  });

  it('routes critical alerts to the pager and the rest to tickets', () => {
    const route = (...labels: string[]): string => {
      const r = amtool(['config', 'routes', 'test', `--config.file=${ALERTMANAGER}`, ...labels]);
      assert.equal(r.code, 0, r.output);
      return r.output.split('\n').filter((l) => l.startsWith('rampart-')).join(',');
    };
    assert.equal(route('alertname=RampartSloBurnFast', 'slo=validation', 'severity=critical'), 'rampart-page');
    assert.equal(route('alertname=RampartSloBurnSlow', 'slo=issuance', 'severity=warning'), 'rampart-ticket');
    assert.equal(route('alertname=RampartBackupStale', 'severity=warning'), 'rampart-ticket');
    assert.equal(route('alertname=Other'), 'rampart-ticket');
  });

  it('refuses a broken copy (a route to an undefined receiver)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-am-'));
    try {
      const text = readFileSync(ALERTMANAGER, 'utf8');
      writeFileSync(join(dir, 'am.yml'), text.replace('    - receiver: rampart-page\n', '    - receiver: rampart-nowhere\n'));
      const r = amtool(['check-config', join(dir, 'am.yml')]);
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, /rampart-nowhere/, r.output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
