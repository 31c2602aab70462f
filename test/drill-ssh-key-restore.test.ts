/**
 * The ssh-key-restore drill (`rampart drill run ssh-key-restore`): an SSH
 * user CA's key backed up to 3-of-5 shares on node A is restored from three
 * shares into a fresh node B, which publishes the same CA key and issues a
 * certificate that a private sshd (trusting only A's CA key) accepts.
 * Measured against the root-ca tier and kept in the history. Run twice: on
 * a node with software keys (B too), and on a node whose keys are in
 * PKCS#11, where B keeps its keys in a pool of two tokens of the drill's own
 * SoftHSM2 and one of them is destroyed before B signs.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, tempDir } from './helpers/node-process.js';
import { rampartAsync } from './helpers/rampart-cli.js';
import { pkcs11Env } from './helpers/running-node.js';
import { createSoftHsm, type SoftHsm } from './helpers/softhsm.js';
import { removePrivsepDirIfCreated, requireSshTools } from './helpers/sshd.js';

interface DrillRun {
  outcome: string; error: string | null; tier: { name: string }; rtoMet: boolean; notes?: string[];
  measured: { rtoSeconds: number | null; rpoSeconds: number | null };
  steps: Array<{ name: string; ok: boolean; detail?: string }>;
}

describe('drill ssh-key-restore (SSH CA key from Shamir shares into a fresh node, login with sshd)', () => {
  const dirs: string[] = [];
  let hsm: SoftHsm | undefined;
  after(() => {
    removePrivsepDirIfCreated();
    for (const d of dirs) removeDir(d);
    hsm?.cleanup();
  });

  const drill = async (env: Record<string, string>): Promise<{ d: DrillRun; dataDir: string }> => {
    requireSshTools();
    const dataDir = tempDir('rampart-drill-ssh-');
    dirs.push(dataDir);
    const init = await rampartAsync(dataDir, ['--json', 'init'], undefined, env);
    assert.equal(init.code, 0, init.stderr);
    const r = await rampartAsync(dataDir, ['--json', 'drill', 'run', 'ssh-key-restore'], undefined, env);
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const d = JSON.parse(r.stdout) as DrillRun;
    assert.equal(d.outcome, 'passed', d.error ?? '');
    assert.equal(d.tier.name, 'root-ca');
    assert.ok(d.measured.rtoSeconds !== null && d.measured.rtoSeconds > 0 && d.rtoMet);
    assert.equal(d.measured.rpoSeconds, 0);
    for (const name of ['B publishes the same CA public key', 'issue a user certificate on B (REST)', 'log in with it (ssh)']) {
      assert.equal(d.steps.find((s) => s.name === name)?.ok, true, `${name}: ${JSON.stringify(d.steps)}`);
    }
    return { d, dataDir };
  };

  it('passes within the root-ca tier: the restored key signs a certificate sshd accepts', async () => {
    const { d, dataDir } = await drill({});
    assert.match(d.steps.find((s) => s.name.startsWith('restore the SSH CA key on B'))?.detail ?? '', /^software /);
    assert.equal(d.steps.some((s) => s.name.startsWith('destroy pool token')), false, 'no HSM on a software node');
    const history = JSON.parse((await rampartAsync(dataDir, ['--json', 'drill', 'history'])).stdout);
    assert.equal(history.last['ssh-key-restore'].outcome, 'passed');
  });

  it('on a PKCS#11 node: B restores the Ed25519 key into both tokens of an HSM pool and signs with one destroyed', async () => {
    hsm = createSoftHsm();
    const token = hsm.initToken('operator');
    const { d } = await drill(pkcs11Env(hsm, [token]));
    assert.match(d.steps.find((s) => s.name.startsWith('restore the SSH CA key on B'))?.detail ?? '', /^pkcs11 pkcs11:type=private;id=/);
    assert.equal(d.steps.find((s) => s.name.startsWith('destroy pool token drill-ssh-pool-a'))?.ok, true, JSON.stringify(d.steps));
    assert.ok(d.steps.findIndex((s) => s.name.startsWith('destroy pool token')) < d.steps.findIndex((s) => s.name === 'issue a user certificate on B (REST)'));
  });
});
