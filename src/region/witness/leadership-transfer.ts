/**
 * What `rampart failover region --to B` (and failback) do with the witness:
 * wait until the leader key is free — the old region's lease expired (it was
 * cut off, or stopped) or was revoked (its nodes saw themselves fenced) —
 * then create it for B in one txn that also names B in the active record.
 * The command keeps that lease alive until B's nodes renew it themselves
 * (they renew whatever lease the key names once B is active in its
 * database), then stops renewing without revoking it.
 *
 * Leadership is never taken from a region that still renews its lease: such
 * a region is alive and reaches the quorum, and the command refuses.
 */
import type { WitnessConfig } from '../../config/witness-config.js';
import { sleep } from '../../core/wait.js';
import { EtcdGateway, EtcdUnreachable } from './etcd-gateway.js';
import { claimLeader, readWitness, witnessKeys, type ActiveRecord } from './witness-keys.js';

export interface Leadership {
  leaseId: string;
  /** Previous active record (to put back when the failover stops before promoting). */
  previous: ActiveRecord | null;
  /** Waited this long for the old region's lease to go. */
  waitedMs: number;
  /** Stops renewing (the target's nodes renew from now on). */
  handOver(): void;
  /** Gives leadership back: the active record as it was, and the lease revoked (before the target was promoted only). */
  abandon(): Promise<void>;
}

export interface TakeLeadershipOptions {
  config: WitnessConfig;
  to: string;
  epoch: string;
  /** How long to wait for the old region's lease to expire or be revoked (default: 3 × leaseSeconds + 10 s). */
  waitMs?: number;
  log?: (line: string) => void;
}

export async function takeLeadership(o: TakeLeadershipOptions): Promise<Leadership> {
  const c = o.config;
  const etcd = new EtcdGateway({ endpoints: c.endpoints, timeoutMs: c.requestTimeoutMs, caFile: c.caFile });
  const keys = witnessKeys(c.prefix);
  const started = Date.now();
  const deadline = started + (o.waitMs ?? (3 * c.leaseSeconds + 10) * 1000);
  let last = '';
  let unreachable: EtcdUnreachable | null = null;
  for (let round = 0; ; round++) {
    // The quorum may be electing a leader (the old leader's member was cut off): retry until the deadline.
    try {
      const v = await readWitness(etcd, keys);
      if (!v.leader || v.leader.value === o.to) {
        const granted = await etcd.grant(c.leaseSeconds);
        const record: ActiveRecord = { region: o.to, epoch: o.epoch, at: new Date().toISOString() };
        let ok: boolean;
        if (!v.leader) {
          ok = await claimLeader(etcd, keys, o.to, granted.id, v.active, record);
        } else {
          // A re-run, or the target's nodes got there first: keep their lease, name the target in the record.
          await etcd.revoke(granted.id);
          const r = await etcd.txn([{ key: keys.leader, target: 'MOD', modRevision: v.leader.modRevision },
            v.active ? { key: keys.active, target: 'MOD', modRevision: v.active.modRevision } : { key: keys.active, target: 'CREATE', createRevision: '0' }],
          [{ put: { key: keys.active, value: JSON.stringify(record) } }]);
          ok = r.succeeded;
          granted.id = v.leader.lease;
        }
        if (ok) return keepAlive(etcd, keys, granted.id, v.record, Date.now() - started, c.renewSeconds);
        if (!v.leader) await etcd.revoke(granted.id).catch(() => undefined);
      } else {
        const now = `region ${v.leader.value} holds the leadership lease ${v.leader.lease}`;
        if (now !== last) o.log?.(`witness: ${now}; waiting for it to expire (at most ${c.leaseSeconds} s after its last renewal) or be revoked`);
        last = now;
      }
      unreachable = null;
    } catch (e) {
      if (!(e instanceof EtcdUnreachable)) throw e;
      if (!unreachable) o.log?.(`witness: ${e.message}; retrying until the quorum answers`);
      unreachable = e;
    }
    if (Date.now() > deadline || round > 10_000) {
      if (unreachable) throw new Error(`the witness quorum did not answer for ${Math.round((Date.now() - started) / 1000)} s: ${unreachable.message}`);
      throw new Error(`${last || 'the leader key kept changing'} and still renewed it ${Math.round((Date.now() - started) / 1000)} s later: `
        + `that region is alive and reaches the witness quorum. Refusing to promote ${o.to} (that would be two active regions): `
        + 'fence it (its database reachable from here) or stop its nodes, then run the failover again');
    }
    await sleep(Math.min(1000, c.renewSeconds * 500));
  }
}

function keepAlive(etcd: EtcdGateway, keys: ReturnType<typeof witnessKeys>, leaseId: string, previous: ActiveRecord | null, waitedMs: number, renewSeconds: number): Leadership {
  let on = true;
  const timer = setInterval(() => { if (on) void etcd.keepAlive(leaseId).catch(() => undefined); }, renewSeconds * 1000);
  timer.unref();
  const stop = (): void => { on = false; clearInterval(timer); };
  return {
    leaseId, previous, waitedMs,
    handOver: stop,
    async abandon() {
      stop();
      const cur = await etcd.get(keys.active);
      if (cur) {
        await etcd.txn([{ key: keys.active, target: 'MOD', modRevision: cur.modRevision }],
          [previous ? { put: { key: keys.active, value: JSON.stringify(previous) } } : { delete: { key: keys.active } }]);
      }
      await etcd.revoke(leaseId);
    },
  };
}
