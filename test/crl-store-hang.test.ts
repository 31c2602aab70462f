/**
 * A CRL request while the store hangs (a paused or unreachable database):
 * the CRL the node holds in memory answers after the store timeout instead
 * of waiting on the store, also when the store names a newer CRL it then
 * does not deliver. The store's reads are
 * replaced by reads that never answer, in this process (the fault lab's
 * scenario 8 pauses a real PostgreSQL).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessNode, type InProcessTestNode } from './helpers/running-node.js';

describe('CRL requests while the store hangs', () => {
  let t: InProcessTestNode;
  before(async () => { t = await startInProcessNode({ prefix: 'rampart-crl-hang-' }); });
  after(async () => { await t?.close(); });

  it('answers from memory after the store timeout', async () => {
    const { node } = t;
    const issuer = node.ca.active();
    const made = await node.crl.generate(issuer.id);
    const store = node.store as unknown as Record<string, unknown>;
    const saved = { latestCrlNumber: store.latestCrlNumber, latestCrl: store.latestCrl };
    const hang = (): Promise<never> => new Promise<never>(() => undefined);
    store.latestCrlNumber = hang;
    store.latestCrl = hang;
    try {
      const t0 = performance.now();
      const crl = await node.crl.current(issuer.id);
      const waited = performance.now() - t0;
      assert.equal(crl?.number, made.number, 'the CRL in memory');
      assert.ok(waited >= 1400, `answered after ${Math.round(waited)} ms, past the store timeout (1.5 s)`);
      // A store that says a newer CRL exists but does not give its bytes: the one in memory still answers.
      store.latestCrlNumber = async () => made.number + 1n;
      assert.equal((await node.crl.current(issuer.id))?.number, made.number);
    } finally {
      Object.assign(store, saved);
    }
    assert.equal((await node.crl.current(issuer.id))?.number, made.number, 'the store answers again');
  });
});
