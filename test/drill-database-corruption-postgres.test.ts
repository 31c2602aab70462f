/**
 * `rampart drill run database-corruption-postgres` through the CLI, with real
 * processes and a real PostgreSQL (data checksums, amcheck, WAL archived by
 * `rampart pitr wal-push`): a page of the certificates relation is damaged,
 * `rampart integrity check` finds it, a new server is recovered to before the
 * damage from the base backup and the archived WAL, then reconciled from the
 * forwarded audit stream. Every certificate issued before the damage is in the
 * recovered inventory (those after the archive's end come from the audit
 * stream; none is named unrecoverable), both revocations survive, each step is
 * timed, and RTO/RPO are measured against the database-corruption tier.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rampartAsync } from './helpers/rampart-cli.js';
import { assertRecoveredWithoutLoss, drillStep, type DrillJson } from './helpers/drill-json.js';
import { removeDir, tempDir } from './helpers/node-process.js';
import { postgresBinDir } from './helpers/postgres.js';

const rampart = (dataDir: string, args: string[], timeoutMs: number) => rampartAsync(dataDir, args, timeoutMs, { RAMPART_KEY_PASSPHRASE: 'drill-test-passphrase-0123' });

describe('drill run database-corruption-postgres', () => {
  let dataDir: string;
  before(async () => {
    postgresBinDir(); // installs Debian's postgresql when missing (root)
    dataDir = tempDir('rampart-drill-pgcorrupt-');
    const init = await rampart(dataDir, ['--json', 'init'], 120_000);
    assert.equal(init.code, 0, init.stderr);
  });
  after(() => { if (dataDir) removeDir(dataDir); });

  it('detects the damaged relation, recovers to before it, reconciles from the audit stream and loses no certificate', async (t) => {
    const r = await rampart(dataDir, ['--json', 'drill', 'run', 'database-corruption-postgres'], 900_000);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const d = JSON.parse(r.stdout) as DrillJson;
    for (const s of d.steps) t.diagnostic(`${(s.durationMs / 1000).toFixed(1).padStart(6)} s  ${s.name}${s.detail ? `: ${s.detail}` : ''}`);
    assert.equal(d.scenario, 'database-corruption-postgres');
    assert.equal(d.outcome, 'passed', d.error ?? '');
    assert.deepEqual([d.tier.name, d.tier.rtoMinutes, d.tier.rpoMinutes], ['database-corruption', 240, 0]);
    assert.ok(d.steps.every((s) => s.ok && typeof s.durationMs === 'number'), JSON.stringify(d.steps));
    const step = (prefix: string) => drillStep(d, prefix);
    assert.match(step('damage the first page of the certificates relation').detail!, /^base\/\d+\/\d+: 64 bytes at offset 200$/);
    assert.match(step('detect it (rampart integrity check)').detail!, /postgres\.(read|checksums|amcheck): /);
    assert.match(step('recover a new server to T').detail!, /WAL file\(s\)/);
    // What the archive did not cover (3 issuances, 1 revocation after T) comes back from the audit stream.
    assert.match(step('reconcile from the audit stream').detail!, /^3 certificate\(s\) put back, 1 revocation\(s\) applied, \d+ audit entries put back, 0 unrecoverable$/);
    assert.match(step('the recovered database passes the integrity check').detail!, /postgres\.read.*certificates, crls, audit-chain/);
    assert.equal(step('every certificate issued before the damage').detail, '6 of 6 present, 0 named unrecoverable');
    assert.match(step('both revocations survive').detail!, /^\w+ revoked, \w+ revoked$/);
    assertRecoveredWithoutLoss(d);
  });
});
