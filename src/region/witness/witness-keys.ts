/**
 * The two keys of the region witness, under regions.witness.prefix:
 * - <prefix>/leader: the leading region's name, attached to an etcd lease.
 *   Created only when absent (create_revision == 0), so one region holds it;
 *   it disappears when its lease expires or is revoked.
 * - <prefix>/active: {region, epoch, at}, no lease: the region leadership was
 *   last given to (by the first active region, then by failover and failback).
 *   A region's nodes create the leader key only while this names their
 *   region, so a region that was failed over never takes leadership back by
 *   itself, whatever it finds in etcd after a partition heals.
 */
import type { WitnessConfig } from '../../config/witness-config.js';
import { EtcdGateway, type EtcdKv } from './etcd-gateway.js';

export interface ActiveRecord { region: string; epoch: string; at: string }

export interface WitnessKeys { leader: string; active: string }

export const witnessKeys = (prefix: string): WitnessKeys => ({ leader: `${prefix.replace(/\/+$/, '')}/leader`, active: `${prefix.replace(/\/+$/, '')}/active` });

export function parseActive(kv: EtcdKv | null): ActiveRecord | null {
  if (!kv) return null;
  try {
    const v = JSON.parse(kv.value) as Partial<ActiveRecord>;
    return typeof v.region === 'string' ? { region: v.region, epoch: String(v.epoch ?? '?'), at: String(v.at ?? '') } : null;
  } catch {
    return null;
  }
}

export interface WitnessView { leader: EtcdKv | null; active: EtcdKv | null; record: ActiveRecord | null }

/** Both keys in one linearizable read (a txn with no comparison). */
export async function readWitness(etcd: EtcdGateway, keys: WitnessKeys): Promise<WitnessView> {
  const r = await etcd.txn([], [{ range: { key: keys.leader } }, { range: { key: keys.active } }]);
  const [leader = null, active = null] = r.ranges;
  return { leader, active, record: parseActive(active) };
}

/**
 * Creates the leader key for `region` on lease `leaseId`, in one txn with the
 * active record: only when the leader key is absent and the record is what
 * was read (absent, or unchanged). `record` is written when given.
 */
export async function claimLeader(etcd: EtcdGateway, keys: WitnessKeys, region: string, leaseId: string, seen: EtcdKv | null, record?: ActiveRecord): Promise<boolean> {
  const r = await etcd.txn(
    [{ key: keys.leader, target: 'CREATE', createRevision: '0' },
      seen ? { key: keys.active, target: 'MOD', modRevision: seen.modRevision } : { key: keys.active, target: 'CREATE', createRevision: '0' }],
    [{ put: { key: keys.leader, value: region, lease: leaseId } }, ...(record ? [{ put: { key: keys.active, value: JSON.stringify(record) } }] : [])],
  );
  return r.succeeded;
}

/** What `rampart region status` shows of the witness: the leader, its lease, the active record (or why it could not be read). */
export async function describeWitness(c: WitnessConfig): Promise<{ leader: string | null; lease: string | null; active: ActiveRecord | null; error: string | null; text: string }> {
  try {
    const v = await readWitness(new EtcdGateway({ endpoints: c.endpoints, timeoutMs: c.requestTimeoutMs, caFile: c.caFile }), witnessKeys(c.prefix));
    const leader = v.leader?.value ?? null;
    const text = `${leader ? `region ${leader} leads (lease ${v.leader!.lease})` : 'no region leads (the leader key is free)'}`
      + `; active record: ${v.record ? `${v.record.region} epoch ${v.record.epoch} since ${v.record.at}` : 'none'}`;
    return { leader, lease: v.leader?.lease ?? null, active: v.record, error: null, text };
  } catch (e) {
    return { leader: null, lease: null, active: null, error: (e as Error).message, text: `quorum unreachable from here (${(e as Error).message})` };
  }
}
