/**
 * The hsm-failure drill (`rampart drill run hsm-failure`): an isolated node
 * with its CA keys in a SoftHSM2 token loses the token; issuance fails with
 * a 503 (not a 500); the keys are restored from 3-of-5 shares into a spare
 * token; the node issues with the original CA certificates, replaces its
 * OCSP signer (whose key was in the lost token), answers OCSP and revokes.
 * Measured against the `hsm` tier (RTO 4 h, RPO 0) and kept in the history.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, tempDir } from './helpers/node-process.js';
import { rampartAsync } from './helpers/rampart-cli.js';
import { requireSoftHsm } from './helpers/softhsm.js';

const rampart = rampartAsync;

describe('drill hsm-failure (SoftHSM2 token lost, keys restored from shares into a spare)', () => {
  let dataDir: string;
  before(async () => {
    requireSoftHsm();
    dataDir = tempDir('rampart-drill-hsm-');
    const init = await rampart(dataDir, ['--json', 'init']);
    assert.equal(init.code, 0, init.stderr);
  });
  after(() => removeDir(dataDir));

  it('passes within the hsm tier: 503 while the token is gone, then issuance, OCSP and revocation through the spare', async () => {
    const r = await rampart(dataDir, ['--json', 'drill', 'run', 'hsm-failure']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const d = JSON.parse(r.stdout) as {
      outcome: string; error: string | null; tier: { name: string; rtoMinutes: number }; rtoMet: boolean; rpoMet: boolean;
      measured: { rtoSeconds: number | null; rpoSeconds: number | null }; steps: Array<{ name: string; ok: boolean; detail?: string }>;
    };
    assert.equal(d.outcome, 'passed', d.error ?? '');
    assert.equal(d.tier.name, 'hsm');
    assert.equal(d.tier.rtoMinutes, 240);
    assert.ok(d.measured.rtoSeconds !== null && d.measured.rtoSeconds > 0 && d.rtoMet);
    assert.equal(d.measured.rpoSeconds, 0);
    const step = (name: string) => d.steps.find((s) => s.name === name);
    assert.match(step('issuance fails without the token')?.detail ?? '', /HTTP 503 .*cannot be used now/);
    for (const name of ['destroy the primary token (softhsm2-util --delete-token)', 'issue through the spare token', 'OCSP says good (HTTP)', 'OCSP says revoked (HTTP)']) {
      assert.equal(step(name)?.ok, true, `${name}: ${JSON.stringify(d.steps)}`);
    }
    assert.equal(d.steps.filter((s) => /^restore the (root|intermediate) key into the spare/.test(s.name)).length, 2);

    const history = await rampart(dataDir, ['--json', 'drill', 'history']);
    assert.equal(JSON.parse(history.stdout).last['hsm-failure'].outcome, 'passed');
  });
});
