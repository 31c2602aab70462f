/**
 * The end of a campaign: every certificate of the old issuers still good is
 * revoked, in bounded batches. A batch's revocations run together (the
 * store's group commit writes them in one transaction) and the event loop is
 * given back between batches, so a node finishing a campaign of 100 000
 * certificates at its deadline keeps answering OCSP and serving CRLs while
 * it does.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Actor } from '../../core/actor.js';
import type { Clock } from '../../core/clock.js';
import { isRampartError } from '../../core/errors.js';
import type { Store } from '../../storage/store.js';
import type { RevocationService } from '../revocation.js';

export interface SweepResult { revoked: number; alreadyRevoked: number; failed: Array<{ serial: string; error: string }> }

export interface SweepOptions {
  store: Store;
  revocation: RevocationService;
  clock: Clock;
  issuers: string[];
  reason: 'superseded' | 'cACompromise';
  actor: Actor;
  /** Revocations per batch (default 25). */
  batch?: number;
  /** Called after each batch, with the totals so far. */
  onBatch?: (r: SweepResult) => void;
}

export const SWEEP_BATCH = 25;

export async function revokeOldHierarchy(o: SweepOptions): Promise<SweepResult> {
  const result: SweepResult = { revoked: 0, alreadyRevoked: 0, failed: [] };
  const revokeOne = async (serial: string): Promise<void> => {
    try {
      await o.revocation.revoke(serial, o.reason, o.actor);
      result.revoked++;
    } catch (e) {
      if (isRampartError(e) && e.code === 'alreadyRevoked') result.alreadyRevoked++;
      else result.failed.push({ serial, error: (e as Error).message });
    }
  };
  const now = o.clock.now();
  for (const issuerId of o.issuers) {
    for await (const page of o.store.exportCertificates({ issuerId, status: 'good' }, now, { batch: o.batch ?? SWEEP_BATCH })) {
      await Promise.all(page.map((r) => revokeOne(r.serial)));
      o.onBatch?.(result);
      await yieldToLoop();
    }
  }
  return result;
}
