/**
 * The CRL part of the application check on a real node (SQLite): CRLs
 * published while the check reads are not mistaken for corruption (each is
 * judged against the counter read after it), and a counter set back below
 * stored CRL numbers (the next CRL would reuse a number) is found.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessNode } from '../../test/helpers/running-node.js';
import type { SqliteStore } from '../storage/sqlite/sqlite-store.js';
import { applicationChecks } from './application-check.js';

test('CRL numbers: publication during the check is fine; a counter below a stored number is corruption', async () => {
  const t = await startInProcessNode({ prefix: 'rampart-appcheck-' });
  try {
    const { node } = t;
    const shards = node.config.crl.shards;
    const int = node.ca.active();
    await node.crl.generateAll();
    const opts = () => ({ deadline: Date.now() + 60_000, batch: 100, shards });
    const crlFinding = async () => (await applicationChecks(node.store, opts())).find((f) => f.check === 'crls')!;

    // CRLs published while the check runs: three are saved just before the check first reads stored CRLs.
    let published = 0;
    const racing = new Proxy(node.store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown;
        if (typeof v !== 'function') return v;
        if (prop === 'storedCrls' && published === 0) {
          return async (...args: unknown[]) => {
            for (; published < 3; published++) await node.crl.generate(int.id);
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return (v as (...a: unknown[]) => unknown).bind(target);
      },
    });
    const during = (await applicationChecks(racing, opts())).find((f) => f.check === 'crls')!;
    assert.equal(published, 3);
    assert.equal(during.status, 'ok', during.detail);

    (node.store as SqliteStore).db.prepare('UPDATE crl_counters SET last_number = 1 WHERE issuer_id = ?').run(int.id);
    const damaged = await crlFinding();
    assert.equal(damaged.status, 'corrupt');
    assert.match(damaged.detail, /is above the issuer's counter 1/);
  } finally {
    await t.close();
  }
});
