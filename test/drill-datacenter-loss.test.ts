/**
 * `rampart drill run datacenter-loss` through the CLI, with real processes:
 * the drill builds two regions (A: PostgreSQL primary and a node; B: its
 * asynchronous streaming replica and a node), loses A (node and database
 * killed with SIGKILL), runs `rampart failover region --to B`, checks that B
 * issues and answers OCSP (good, and revoked for a certificate revoked before
 * the loss), brings A back fenced, runs `rampart failback --to A`, and checks
 * that every acknowledged certificate is in A with its status. Each step is
 * timed; RTO/RPO are measured against the datacenter-loss tier (24 h); the
 * result is in `drill history`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rampartAsync } from './helpers/rampart-cli.js';
import { drillStep, type DrillJson } from './helpers/drill-json.js';
import { removeDir, tempDir } from './helpers/node-process.js';
import { postgresBinDir } from './helpers/postgres.js';

const rampart = (dataDir: string, args: string[], timeoutMs = 300_000) => rampartAsync(dataDir, args, timeoutMs, { RAMPART_KEY_PASSPHRASE: 'drill-test-passphrase-0123' });

describe('drill run datacenter-loss', () => {
  let dataDir: string;
  before(async () => {
    postgresBinDir(); // installs Debian's postgresql when missing (root)
    dataDir = tempDir('rampart-drill-dcloss-');
    const init = await rampart(dataDir, ['--json', 'init'], 120_000);
    assert.equal(init.code, 0, init.stderr);
  });
  after(() => { if (dataDir) removeDir(dataDir); });

  it('loses region A, fails over to B (issuance and OCSP there), fails back to A with every certificate', async (t) => {
    const r = await rampart(dataDir, ['--json', 'drill', 'run', 'datacenter-loss'], 1_200_000);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const d = JSON.parse(r.stdout) as DrillJson;
    for (const s of d.steps) t.diagnostic(`${(s.durationMs / 1000).toFixed(1).padStart(6)} s  ${s.name}${s.detail ? `: ${s.detail}` : ''}`);
    assert.equal(d.scenario, 'datacenter-loss');
    assert.equal(d.outcome, 'passed', d.error ?? '');
    assert.deepEqual([d.tier.name, d.tier.rtoMinutes, d.tier.rpoMinutes], ['datacenter-loss', 1440, 5]);
    assert.ok(d.steps.every((s) => s.ok && typeof s.durationMs === 'number'), JSON.stringify(d.steps));
    const step = (prefix: string) => drillStep(d, prefix);
    assert.match(step('region B refuses issuance while it is a replica').detail!, /^503: .*replica of region A/);
    assert.match(step('lose region A').detail!, /^postmaster \d+ killed/);
    assert.match(step('rampart failover region --to B').detail!, /^A -> B at epoch 2, timeline \d+; A not fenced \(unreachable\)/);
    assert.match(step('OCSP in region B').detail!, /^\w+ revoked, \w+ good, \w+ good$/);
    assert.match(step('certificates acknowledged in A before the loss are in region B').detail!, /^\d of 5/);
    for (const region of ['A', 'B']) {
      for (const s of ['issue a certificate (REST API)', 'OCSP says good (HTTP)', 'revoke it (REST API)', 'OCSP says revoked (HTTP)']) {
        assert.ok(d.steps.some((x) => x.name === `region ${region}: ${s}`), `region ${region}: ${s}`);
      }
    }
    assert.match(step('node a1 restarts and is fenced').detail!, /^503: .*region B is active at epoch 2/);
    assert.match(step('rampart failback --to A').detail!, /^epoch 3; \d+ certificate\(s\) and 0 revocation\(s\) recovered from A; A by (rewind|basebackup), B by (rewind|basebackup); switchover [\d.]+ s, 0 bytes lost$/);
    assert.equal(step('every certificate acknowledged in either region is in region A').detail, '6 of 6');
    assert.match(step('region B is a replica again').detail!, /^503: /);
    assert.ok(d.measured.rtoSeconds !== null && d.measured.rtoSeconds > 0);
    assert.equal(d.rtoMet, true);
    assert.ok(d.measured.rpoSeconds !== null);
    assert.equal(d.rpoMet, true);
    assert.match(readFileSync(d.files.report, 'utf8'), /DR drill: datacenter-loss[\s\S]*Outcome:\s+PASSED/);

    const history = await rampart(dataDir, ['--json', 'drill', 'history', '--scenario', 'datacenter-loss']);
    assert.equal(history.code, 0, history.stderr);
    const h = JSON.parse(history.stdout);
    assert.equal(h.runs[0].scenario, 'datacenter-loss');
    assert.equal(h.last['datacenter-loss'].outcome, 'passed');
    assert.equal(h.last['datacenter-loss'].rtoSeconds, d.measured.rtoSeconds);
  });
});
