/**
 * `rampart pki rebuild`: the new hierarchy a re-issuance campaign moves to.
 * - root-loss: a new root and intermediate, made here (online root), or a
 *   bundle from a new offline root (`rampart ca request` here, `rampart root
 *   init` and `rampart root sign` on the offline host) taken in as the new root;
 * - intermediate-compromise: a new intermediate under the same root, signed
 *   here (online root) or brought as a bundle from the offline root.
 * Returns which issuers are replaced (the campaign's old issuers) and the new ones.
 */
import type { Actor } from '../../core/actor.js';
import type { IssuerRecord } from '../../core/types.js';
import type { KeyAlgorithm } from '../../keys/key-backend.js';
import type { CampaignKind } from '../../storage/campaign-records.js';
import type { CaBundle } from '../ca-bundle.js';
import type { IssuerLifecycle } from '../issuer-lifecycle.js';
import { nextIntermediateSubject, signRotatedIntermediate, type RotateOptions } from '../rotation.js';

export interface RebuildInput {
  kind: CampaignKind;
  /** An offline-signed bundle (new intermediate, and for root-loss a new root). */
  bundle?: CaBundle;
  rootSubject?: string;
  intermediateSubject?: string;
  algorithm: KeyAlgorithm;
  rootDays: number;
  intermediateDays: number;
  ekus?: readonly string[];
  policies?: readonly string[];
}

export interface RebuildResult { oldIssuers: string[]; newIssuers: string[]; root: IssuerRecord; intermediate: IssuerRecord; notes: string[] }

export async function rebuildHierarchy(o: Omit<RotateOptions, 'subject' | 'algorithm' | 'validityDays'> & { lifecycle: IssuerLifecycle }, input: RebuildInput, actor: Actor): Promise<RebuildResult> {
  const current = o.ca.active();
  const oldRoot = o.ca.root();
  const cas = o.ca.cas();
  // Root loss: every CA under the old root (a compromised or lost root takes its whole tree); else the active intermediate.
  const oldIssuers = input.kind === 'root-loss' ? cas.filter((c) => c.id === oldRoot?.id || c.parentId === oldRoot?.id).map((c) => c.id) : [current.id];
  const taken = cas.map((c) => c.subject);
  const intSubject = input.intermediateSubject ?? nextIntermediateSubject(current.subject, taken);
  if (input.bundle) {
    const plan = await o.lifecycle.importIntermediate(input.bundle, actor, 'pki.rebuild', { newRoot: input.kind === 'root-loss' });
    return { oldIssuers, newIssuers: [...(plan.rootIsNew ? [plan.root.id] : []), plan.intermediate.id], root: plan.root, intermediate: plan.intermediate, notes: plan.notes };
  }
  if (input.kind === 'intermediate-compromise') {
    const bundle = await signRotatedIntermediate({ ...o, subject: intSubject, algorithm: input.algorithm, validityDays: input.intermediateDays });
    const plan = await o.lifecycle.importIntermediate(bundle, actor, 'pki.rebuild');
    return { oldIssuers, newIssuers: [plan.intermediate.id], root: plan.root, intermediate: plan.intermediate, notes: plan.notes };
  }
  const rootSubject = input.rootSubject ?? nextIntermediateSubject(oldRoot?.subject ?? 'CN=Rampart Root CA', taken);
  if (taken.includes(rootSubject) || taken.includes(intSubject)) throw new Error(`the new CAs need names of their own ("${rootSubject}", "${intSubject}" are taken): give --root-subject and --subject`);
  const made = await o.lifecycle.createReplacementHierarchy({
    root: { subject: rootSubject, algorithm: input.algorithm, validityDays: input.rootDays },
    intermediate: { subject: intSubject, algorithm: input.algorithm, validityDays: input.intermediateDays, ekus: input.ekus, policies: input.policies },
  }, actor);
  return { oldIssuers, newIssuers: [made.root.id, made.intermediate.id], root: made.root, intermediate: made.intermediate, notes: [] };
}
