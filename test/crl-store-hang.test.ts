/**
 * A CRL request while the store hangs (a paused or unreachable database):
 * the CRL the node holds in memory answers after the store timeout instead
 * of waiting on the store; a scope with nothing in memory fails
 * 'unavailable' (503 with Retry-After), never hangs. The store's reads are
 * replaced by reads that never answer, in this process (the fault lab's
 * scenario 8 pauses a real PostgreSQL).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRampartError } from '../src/core/errors.js';
import { startInProcessNode, type InProcessTestNode } from './helpers/running-node.js';

describe('CRL requests while the store hangs', () => {
  let t: InProcessTestNode;
  before(async () => { t = await startInProcessNode({ prefix: 'rampart-crl-hang-' }); });
  after(async () => { await t?.close(); });

  it('answers from memory after the store timeout; with nothing in memory, unavailable', async () => {
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
      // A shard this node never held: nothing to answer with.
      await assert.rejects(node.crl.current(issuer.id, 7), (e) => isRampartError(e) && e.code === 'unavailable' && /within 1500 ms/.test(e.message));
    } finally {
      Object.assign(store, saved);
    }
    assert.equal((await node.crl.current(issuer.id))?.number, made.number, 'the store answers again');
  });
});
