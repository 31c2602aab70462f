/**
 * The ssh-key-restore drill (`rampart drill run ssh-key-restore`): an SSH
 * user CA's key backed up to 3-of-5 shares on node A is restored from three
 * shares into a fresh node B, which publishes the same CA key and issues a
 * certificate that a private sshd (trusting only A's CA key) accepts.
 * Measured against the root-ca tier and kept in the history.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, tempDir } from './helpers/node-process.js';
import { rampartAsync } from './helpers/rampart-cli.js';
import { removePrivsepDirIfCreated, requireSshTools } from './helpers/sshd.js';

describe('drill ssh-key-restore (SSH CA key from Shamir shares into a fresh node, login with sshd)', () => {
  let dataDir: string;
  before(async () => {
    requireSshTools();
    dataDir = tempDir('rampart-drill-ssh-');
    const init = await rampartAsync(dataDir, ['--json', 'init']);
    assert.equal(init.code, 0, init.stderr);
  });
  after(() => {
    removePrivsepDirIfCreated();
    removeDir(dataDir);
  });

  it('passes within the root-ca tier: the restored key signs a certificate sshd accepts', async () => {
    const r = await rampartAsync(dataDir, ['--json', 'drill', 'run', 'ssh-key-restore']);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const d = JSON.parse(r.stdout) as {
      outcome: string; error: string | null; tier: { name: string }; rtoMet: boolean; measured: { rtoSeconds: number | null; rpoSeconds: number | null };
      steps: Array<{ name: string; ok: boolean; detail?: string }>;
    };
    assert.equal(d.outcome, 'passed', d.error ?? '');
    assert.equal(d.tier.name, 'root-ca');
    assert.ok(d.measured.rtoSeconds !== null && d.measured.rtoSeconds > 0 && d.rtoMet);
    assert.equal(d.measured.rpoSeconds, 0);
    for (const name of ['B publishes the same CA public key', 'issue a user certificate on B (REST)', 'log in with it (ssh)']) {
      assert.equal(d.steps.find((s) => s.name === name)?.ok, true, `${name}: ${JSON.stringify(d.steps)}`);
    }
    assert.match(d.steps.find((s) => s.name.startsWith('restore the SSH CA key on B'))?.detail ?? '', /^software /);

    const history = JSON.parse((await rampartAsync(dataDir, ['--json', 'drill', 'history'])).stdout);
    assert.equal(history.last['ssh-key-restore'].outcome, 'passed');
  });
});
