/**
 * The facts a backup manifest records about its database (counts, audit
 * head, CRL counters), read through the Store interface: from the SQLite copy
 * a backup took, and from a restored database before it is put in place.
 * The snapshot itself is each store's `backupSnapshot` (SQLite: online backup
 * of the file; PostgreSQL: pg_dump of one exported snapshot).
 */
import type { SnapshotFacts, Store } from './store.js';

/** Counts through the Store interface (used on the SQLite copy and after a restore). */
export async function storeFacts(store: Store): Promise<SnapshotFacts> {
  const c = await store.countCertificates();
  let n = 0;
  for await (const _ of store.iterateAudit()) n++;
  const last = await store.lastAudit();
  const issuers = (await store.listIssuers()).length;
  const counters = await store.crlCounters();
  return {
    position: { auditSeq: last?.seq ?? 0, auditHead: last?.hash ?? '', certificates: c.total },
    counts: { certificates: c.total, revoked: c.revoked, auditEntries: n, issuers },
    crlNumbers: Object.fromEntries(Object.entries(counters).map(([k, v]) => [k, v.toString()])),
  };
}
