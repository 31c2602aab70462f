/**
 * First run of a node (`rampart serve` on an empty data directory or
 * database): creates the dev hierarchy and an admin token. In a cluster only
 * the lease holder does it; the others wait for it to appear. Returns the
 * one-time admin token when this node created it.
 */
import { SYSTEM_ACTOR } from '../core/actor.js';
import { listPendingIntermediates } from '../ca/pending-intermediates.js';
import type { RampartNode } from './node.js';

export async function bootstrapNode(node: RampartNode): Promise<string | null> {
  if (node.hasHierarchy()) return null;
  if (node.region?.isReplica()) {
    throw new Error(`region ${node.region.region}'s database is a replica with no CA hierarchy yet: start the primary region's nodes first (they create it), then this one`);
  }
  const pending = await listPendingIntermediates(node.store);
  if (pending.length) {
    throw new Error(`this data directory is waiting for its intermediate CA (${pending.map((p) => `"${p.subject}" requested ${p.createdAt}`).join(', ')}): `
      + 'sign the request with `rampart root sign` and run `rampart ca import --bundle FILE`; no dev hierarchy is created meanwhile');
  }
  if (node.cluster.mode !== 'single') {
    const deadline = Date.now() + 120_000;
    for (;;) {
      await node.cluster.tick();
      await node.ca.load();
      if (node.hasHierarchy()) { node.ocsp.reloadIssuers(); return null; }
      if (node.cluster.isLeader()) break;
      if (Date.now() > deadline) throw new Error('no CA hierarchy appeared in the shared database: is another node bootstrapping it, or run `rampart init`');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  await node.issuers.createHierarchy(node.config.hierarchy, SYSTEM_ACTOR);
  const t = await node.tokens.create('initial-admin', 'admin');
  await node.audit.record({ actor: 'system', source: 'local', channel: 'system', action: 'token.create', target: `token:${t.record.id}`, outcome: 'success', details: { role: 'admin', reason: 'first run' } });
  await node.store.setMeta('bootstrap.done', new Date().toISOString());
  return t.token;
}
