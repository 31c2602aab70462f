/**
 * `rampart drill run database-corruption` through the CLI, with real
 * processes and real SQLite files: a page of the certificates table is
 * damaged in a copy of the drill node's database, the check finds it, the
 * last backup is restored and reconciled from the forwarded audit stream
 * (JSON lines, rotated into two files: `rampart restore
 * --reconcile-from-audit DIR`). Every certificate issued before the damage, including those
 * issued after the backup, is in the restored inventory (none is named
 * unrecoverable), the revocation made after the backup survives, each step
 * is timed, and RTO/RPO are measured against the database-corruption tier.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rampartAsync } from './helpers/rampart-cli.js';
import { assertRecoveredWithoutLoss, drillStep, type DrillJson } from './helpers/drill-json.js';
import { removeDir, tempDir } from './helpers/node-process.js';

const rampart = (dataDir: string, args: string[], timeoutMs: number) => rampartAsync(dataDir, args, timeoutMs, { RAMPART_KEY_PASSPHRASE: 'drill-test-passphrase-0123' });

describe('drill run database-corruption', () => {
  let dataDir: string;
  before(async () => {
    dataDir = tempDir('rampart-drill-corruption-');
    const init = await rampart(dataDir, ['--json', 'init'], 120_000);
    assert.equal(init.code, 0, init.stderr);
  });
  after(() => { if (dataDir) removeDir(dataDir); });

  it('detects the damage, restores, reconciles from the audit stream and loses no certificate', async () => {
    const r = await rampart(dataDir, ['--json', 'drill', 'run', 'database-corruption'], 900_000);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const d = JSON.parse(r.stdout) as DrillJson;
    assert.equal(d.scenario, 'database-corruption');
    assert.equal(d.outcome, 'passed', d.error ?? '');
    assert.equal(d.tier.name, 'database-corruption');
    assert.equal(d.tier.rtoMinutes, 240);
    assert.ok(d.steps.every((s) => s.ok && typeof s.durationMs === 'number'), JSON.stringify(d.steps));
    const step = (prefix: string) => drillStep(d, prefix);
    assert.match(step('copy the database and damage a page of the certificates table').detail!, /^page \d+/);
    assert.match(step('detect it (rampart integrity check)').detail!, /sqlite\.quick_check/);
    assert.match(step('restore the last backup').detail!, /^\d+ checks passed; 3 certificate\(s\) put back, 1 revocation\(s\) applied, \d+ audit entries put back, 0 unrecoverable$/);
    assert.equal(step('the restored database passes the integrity check').detail, 'sqlite.quick_check, certificates, crls, audit-chain');
    assert.equal(step('every certificate issued before the damage').detail, '6 of 6 present, 0 named unrecoverable');
    assert.equal(step('the revocation made after the backup survives').detail, 'revoked');
    assertRecoveredWithoutLoss(d);
  });
});
