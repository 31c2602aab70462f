/**
 * `rampart drill run root-key-loss` through the CLI, with real processes: a
 * drill node with ACME, three lego accounts (lego 4.35.2 from Debian sid,
 * ARI-aware) holding certificates, whose timer (`lego renew`) keeps them
 * before the loss, the root key destroyed, `rampart pki rebuild`, and every
 * client's own `lego renew` moving it to the new root because renewal
 * information said so; the campaign finishes without --force (the node's
 * own TLS certificate does not hold it back) and the published bundle drops
 * the old root. Each
 * step is timed; the RTO (loss of the key to the last client on the new
 * root) is measured against the root-ca tier; nothing is lost (RPO 0).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ensureLego } from '../src/dr/lego-client.js';
import { rampartAsync } from './helpers/rampart-cli.js';
import { removeDir, tempDir } from './helpers/node-process.js';

interface DrillJson {
  scenario: string; outcome: string; error: string | null;
  tier: { name: string; rtoMinutes: number; rpoMinutes: number };
  measured: { rtoSeconds: number | null; rpoSeconds: number | null }; rtoMet: boolean | null; rpoMet: boolean | null;
  steps: Array<{ name: string; durationMs: number; ok: boolean; detail?: string }>; notes: string[]; files: { json: string; report: string };
}

const rampart = (dataDir: string, args: string[], timeoutMs: number) => rampartAsync(dataDir, args, timeoutMs, { RAMPART_KEY_PASSPHRASE: 'drill-test-passphrase-0123' });

describe('drill run root-key-loss', () => {
  let dataDir: string;
  before(async () => {
    ensureLego(); // installs sid's lego on a fresh machine (root), or fails saying how
    dataDir = tempDir('rampart-drill-rootloss-');
    const init = await rampart(dataDir, ['--json', 'init'], 120_000);
    assert.equal(init.code, 0, init.stderr);
  });
  after(() => { if (dataDir) removeDir(dataDir); });

  it('rebuilds the hierarchy and every lego client moves to the new root through ARI', { timeout: 900_000 }, async () => {
    const r = await rampart(dataDir, ['--json', 'drill', 'run', 'root-key-loss'], 900_000);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const d = JSON.parse(r.stdout) as DrillJson;
    assert.equal(d.scenario, 'root-key-loss');
    assert.equal(d.outcome, 'passed', d.error ?? '');
    assert.equal(d.tier.name, 'root-ca');
    assert.ok(d.steps.every((s) => s.ok && typeof s.durationMs === 'number'), JSON.stringify(d.steps));
    const step = (prefix: string) => {
      const s = d.steps.find((x) => x.name.startsWith(prefix));
      assert.ok(s, `a step "${prefix}…" in ${d.steps.map((x) => x.name).join(' | ')}`);
      return s;
    };
    assert.match(step('3 lego accounts obtain certificates').detail!, /^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+$/);
    assert.match(step('rampart pki rebuild').detail!, /^new root root-\S+; campaign campaign-\S+ with \d+ certificate\(s\)$/);
    assert.equal(step('each client\'s timer fires (lego renew): nothing is due').detail, '3 of 3 kept their certificate (lego: renewal not needed)');
    assert.equal(step('the same timers fire until lego renews on renewal information alone').detail, '3 of 3 clients hold certificates of the new root; none chains to the old one');
    assert.match(step('campaign progress').detail!, /acme 3\/3\)$/);
    assert.match(step('finish the campaign').detail!, /^every certificate re-issued but the nodes' own TLS certificates .*certificate\(s\) of the old hierarchy revoked \(superseded\)/);
    assert.equal(step('the published trust bundle drops the old root').detail, 'only the new root is published');
    assert.ok(d.measured.rtoSeconds !== null && d.measured.rtoSeconds > 0);
    assert.equal(d.rtoMet, true);
    assert.equal(d.measured.rpoSeconds, 0);
    assert.equal(d.rpoMet, true);
    assert.match(readFileSync(d.files.report, 'utf8'), /DR drill: root-key-loss[\s\S]*Outcome:\s+PASSED/);
  });
});
