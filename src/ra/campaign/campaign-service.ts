/**
 * Re-issuance campaigns (issue 20): after `rampart pki rebuild` (root loss:
 * new root and intermediate) or an intermediate compromise (new
 * intermediate under the same root), every unexpired certificate of the old
 * issuers is an item; each is replaced when its holder has a certificate
 * from the new hierarchy:
 * - ACME clients learn it from renewal information (RFC 9773): while a
 *   campaign is active, renewNow() makes the suggested window of every
 *   certificate of an old issuer lie in the past; the client's new order
 *   (same account, same names) replaces the item (onIssued);
 * - REST-issued items are exported as a work list and re-issued by the API
 *   from the public key on record, when the profile still allows it.
 * finish() revokes what is left of the old hierarchy, when every item is
 * replaced, at the deadline, or when forced.
 */
import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../../audit/audit-log.js';
import { actorFields, SYSTEM_ACTOR, type Actor } from '../../core/actor.js';
import type { Clock } from '../../core/clock.js';
import { RampartError, isRampartError } from '../../core/errors.js';
import { revokeOldHierarchy, type SweepResult } from './old-hierarchy-sweep.js';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { isOfflineIssuer } from '../../core/offline-key.js';
import type { CertificateRecord, IssuerRecord } from '../../core/types.js';
import { certificateSerialHex } from '../../pki/certificate-serial.js';
import { requestFromCertificate } from '../../pki/request-from-certificate.js';
import type { CampaignCounts, CampaignItem, CampaignKind, CampaignRecord } from '../../storage/campaign-records.js';
import type { Store } from '../../storage/store.js';
import type { IssuanceService } from '../issuance.js';
import type { RevocationService } from '../revocation.js';
import { isNodeTlsItem, itemOf, sansKey } from './campaign-items.js';

export interface CampaignServiceOptions {
  store: Store;
  issuance: IssuanceService;
  revocation: RevocationService;
  audit: AuditLog;
  clock: Clock;
  /** The CAs this node knows (to revoke a compromised intermediate on its online root's CRL and OCSP). */
  cas: () => IssuerRecord[];
}

export interface CampaignProgress {
  campaign: CampaignRecord;
  counts: CampaignCounts;
  /** Share of the items re-issued, 0..1 (1 for an empty campaign). */
  done: number;
  deadlinePassed: boolean;
}

export interface FinishResult extends SweepResult { outstanding: number; note: string }

const BATCH = 500;

export class CampaignService {
  /** Old issuer ids of the active campaign (renewal information reads it on every request). */
  private active: CampaignRecord | null = null;
  /** A finish (the deadline job, or an operator) is running: a second one waits for nothing and is refused. */
  private finishing = false;
  /** The old hierarchy of the newest campaign when it was a finished root loss: dropped from the published trust bundle. */
  private retired: ReadonlySet<string> = new Set();

  constructor(private readonly o: CampaignServiceOptions) {}

  /** Reloads the active campaign (another process may have started or finished one). */
  async load(): Promise<CampaignRecord | null> {
    const c = await this.o.store.campaigns.currentCampaign();
    this.active = c && c.state === 'active' ? c : null;
    // Every finished campaign's old hierarchy (a root lost twice, or a root loss then a compromised intermediate).
    this.retired = new Set((await this.o.store.campaigns.finishedCampaigns()).flatMap((f) => f.oldIssuers));
    return this.active;
  }

  /** CAs no longer published in /ca/bundle.pem (as of the last load(): every 30 s on a node). */
  retiredIssuers(): ReadonlySet<string> {
    return this.retired;
  }

  /** RFC 9773: the window of a certificate of a hierarchy being replaced is already open. */
  renewNow(rec: Pick<CertificateRecord, 'issuerId'>, activeIssuerId: string): boolean {
    // Only once this node issues from the new hierarchy (it reloads its issuers every 30 s), or a renewal would come from the old one.
    return !!this.active && this.active.oldIssuers.includes(rec.issuerId) && this.active.newIssuers.includes(activeIssuerId);
  }

  /** Starts a campaign over every unexpired, unrevoked certificate of `oldIssuers`. */
  async start(o: { kind: CampaignKind; oldIssuers: string[]; newIssuers: string[]; deadline: Date | null; actor: Actor }): Promise<CampaignProgress> {
    const now = this.o.clock.now();
    const campaign: CampaignRecord = {
      id: `campaign-${now.toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`, kind: o.kind, state: 'active', oldIssuers: o.oldIssuers,
      newIssuers: o.newIssuers, startedAt: now, deadline: o.deadline, finishedAt: null, finishNote: null,
    };
    await this.o.store.campaigns.createCampaign(campaign);
    for (const issuerId of o.oldIssuers) {
      for await (const batch of this.o.store.exportCertificates({ issuerId, status: 'good' }, now, { batch: BATCH })) {
        await this.o.store.campaigns.addCampaignItems(batch.map((r) => itemOf(campaign.id, r)));
      }
    }
    this.active = campaign;
    const p = await this.progress(campaign);
    await this.o.audit.record({
      ...actorFields(o.actor), action: 'campaign.start', target: `campaign:${campaign.id}`, outcome: 'success',
      details: { kind: o.kind, oldIssuers: o.oldIssuers, newIssuers: o.newIssuers, deadline: o.deadline?.toISOString() ?? null, items: p.counts.total },
    });
    return p;
  }

  async current(): Promise<CampaignRecord | null> {
    return this.o.store.campaigns.currentCampaign();
  }

  async progress(c?: CampaignRecord | null): Promise<CampaignProgress> {
    const campaign = c ?? await this.current();
    if (!campaign) throw new RampartError('notFound', 'no re-issuance campaign (start one with `rampart pki rebuild`)');
    const counts = await this.o.store.campaigns.campaignCounts(campaign.id);
    return {
      campaign, counts, done: counts.total ? counts.replaced / counts.total : 1,
      deadlinePassed: !!campaign.deadline && campaign.deadline <= this.o.clock.now(),
    };
  }

  /** A certificate from the new hierarchy replaces the holder's outstanding item with the same names. */
  async onIssued(rec: CertificateRecord): Promise<boolean> {
    const c = this.active;
    if (!c || !c.newIssuers.includes(rec.issuerId) || rec.createdAt < c.startedAt) return false;
    const serial = await this.o.store.campaigns.findOutstandingItem(c.id, rec.requester, sansKey(rec));
    return serial ? this.o.store.campaigns.markItemReplaced(c.id, serial, rec.serial, rec.createdAt) : false;
  }

  /** Matches every certificate the new issuers issued since the start (catches issuance on other nodes and processes). */
  async reconcile(): Promise<number> {
    const c = await this.load();
    if (!c) return 0;
    let matched = 0;
    for (const issuerId of c.newIssuers) {
      for await (const batch of this.o.store.exportCertificates({ issuerId, status: 'good' }, this.o.clock.now(), { batch: BATCH })) {
        for (const r of batch) if (await this.onIssued(r)) matched++;
      }
    }
    return matched;
  }

  async items(q: { after?: string; limit: number; outstanding?: boolean }, c?: CampaignRecord | null): Promise<CampaignItem[]> {
    const campaign = c ?? await this.current();
    if (!campaign) throw new RampartError('notFound', 'no re-issuance campaign');
    return this.o.store.campaigns.listCampaignItems(campaign.id, q);
  }

  /** Re-issues a REST item from the public key on record, under the same profile and names (refused when the profile no longer allows it). */
  async reissue(serial: string, actor: Actor): Promise<{ item: string; record: CertificateRecord; chain: Uint8Array[] }> {
    const c = await this.load();
    if (!c) throw new RampartError('notFound', 'no active re-issuance campaign');
    const found = await this.o.store.campaigns.getCampaignItem(c.id, serial);
    if (!found) throw new RampartError('notFound', `certificate ${serial} is not in campaign ${c.id}`);
    if (found.replacedBy) throw new RampartError('conflict', `certificate ${serial} was already re-issued as ${found.replacedBy}`);
    if (found.channel === 'acme') throw new RampartError('policyViolation', `certificate ${serial} was issued through ACME: its client renews on its own (renewal information says now)`);
    const old = await this.o.store.getCertificate(serial);
    if (!old) throw new RampartError('notFound', `certificate ${serial} is not in the inventory`);
    const parsed = requestFromCertificate(old.der);
    const dns = parsed.san.dns;
    const ip = parsed.san.ip;
    const res = await this.o.issuance.issue({
      csr: old.der, parsedCsr: parsed, profile: old.profile, sans: { dns, ip },
      validityDays: Math.max(1, Math.round((old.notAfter.getTime() - old.notBefore.getTime()) / 86_400_000)),
      auditDetails: { campaign: c.id, reissueOf: serial },
    }, actor);
    await this.o.store.campaigns.markItemReplaced(c.id, serial, res.record.serial, res.record.createdAt);
    return { item: serial, record: res.record, chain: res.chain };
  }

  /**
   * Ends the campaign and revokes every certificate of the old issuers still
   * good (superseded after a root loss, cACompromise after an intermediate
   * compromise), in bounded batches that give the event loop back
   * (old-hierarchy-sweep.ts). Refused while items other than the nodes' own
   * TLS certificates are outstanding, before the deadline, unless forced.
   */
  async finish(o: { actor: Actor; force?: boolean; batch?: number; onBatch?: (r: SweepResult) => void }): Promise<FinishResult> {
    if (this.finishing) throw new RampartError('conflict', 'the campaign is being finished already');
    this.finishing = true;
    try {
      return await this.finishNow(o);
    } finally {
      this.finishing = false;
    }
  }

  private async finishNow(o: { actor: Actor; force?: boolean; batch?: number; onBatch?: (r: SweepResult) => void }): Promise<FinishResult> {
    const c = await this.load();
    if (!c) throw new RampartError('notFound', 'no active re-issuance campaign');
    const p = await this.progress(c);
    const holding = p.counts.outstanding > 0 && !o.force && !p.deadlinePassed ? await this.holdingBack(c, p.counts) : 0;
    if (holding > 0) {
      throw new RampartError('conflict', `${holding} certificate(s) of campaign ${c.id} are not re-issued yet: wait, re-issue them, or finish with --force (they are revoked)`);
    }
    const reason = c.kind === 'root-loss' ? 'superseded' : 'cACompromise';
    const swept = await revokeOldHierarchy({
      store: this.o.store, revocation: this.o.revocation, clock: this.o.clock, issuers: c.oldIssuers, reason, actor: o.actor, batch: o.batch, onBatch: o.onBatch,
    });
    const result: FinishResult = { ...swept, outstanding: p.counts.outstanding, note: '' };
    const cas = c.kind === 'intermediate-compromise' ? await this.revokeCompromisedCas(c.oldIssuers, o.actor) : '';
    const why = p.deadlinePassed ? 'deadline reached' : o.force ? 'forced' : p.counts.outstanding ? 'every certificate re-issued but the nodes\' own TLS certificates (each node replaces its own now)' : 'every certificate re-issued';
    result.note = `${why}; ${result.revoked} certificate(s) of the old hierarchy revoked (${reason}), ${result.outstanding} never re-issued${cas}`;
    await this.o.store.campaigns.finishCampaign(c.id, this.o.clock.now(), result.note);
    this.active = null;
    this.retired = new Set([...this.retired, ...c.oldIssuers]);
    await this.o.audit.record({ ...actorFields(o.actor), action: 'campaign.finish', target: `campaign:${c.id}`, outcome: result.failed.length ? 'failure' : 'success', details: { ...result, failed: result.failed.slice(0, 20) } });
    return result;
  }

  /**
   * How many outstanding items hold the finish back: all but the nodes' own
   * TLS certificates (isNodeTlsItem, channel 'other'). Read in pages, the
   * event loop given back between them (an operator's finish, not the
   * deadline job, asks this).
   */
  private async holdingBack(c: CampaignRecord, counts: CampaignCounts): Promise<number> {
    const other = counts.byChannel.other;
    if (other.total === other.replaced) return counts.outstanding;
    let nodeTls = 0;
    for (let after: string | undefined, page: CampaignItem[]; (page = await this.o.store.campaigns.listCampaignItems(c.id, { after, limit: BATCH, outstanding: true })).length; after = page.at(-1)!.serial) {
      nodeTls += page.filter(isNodeTlsItem).length;
      await yieldToLoop();
    }
    return counts.outstanding - nodeTls;
  }

  /**
   * An intermediate compromise ends with the intermediate itself revoked by
   * its root: with the root's key on this node, the intermediate's
   * certificate goes into the root's inventory (once) and is revoked
   * (cACompromise) like any certificate, so the root's complete CRL (the one
   * an intermediate's CDP names) and its OCSP answer list it. An offline root
   * revokes it on its own host: the note says how.
   */
  private async revokeCompromisedCas(ids: string[], actor: Actor): Promise<string> {
    const all = this.o.cas();
    const notes: string[] = [];
    for (const id of ids) {
      const ca = all.find((i) => i.id === id);
      const root = ca && all.find((i) => i.id === ca.parentId);
      if (!ca || !root) { notes.push(`CA ${id}: its issuer is not known here, revoke it where its issuer's key is`); continue; }
      const serial = certificateSerialHex(ca.certDer);
      if (isOfflineIssuer(root)) {
        notes.push(`intermediate ${ca.subject} (serial ${serial}): revoke it on the offline root's host (rampart root revoke ${serial} --reason cACompromise, then rampart root crl) and publish that CRL`);
        continue;
      }
      if (!(await this.o.store.getCertificate(serial))) {
        const now = this.o.clock.now();
        await this.o.store.insertCertificate({
          serial, issuerId: root.id, profile: 'intermediate-ca', subject: ca.subject, sans: [], notBefore: ca.notBefore, notAfter: ca.notAfter,
          der: ca.certDer, status: 'good', revokedAt: null, revocationReason: null, createdAt: now, requester: actorFields(actor).actor, crlShard: null,
        }, undefined, undefined, this.o.audit.builder({
          ...actorFields(actor), action: 'certificate.import', target: `serial:${serial}`, outcome: 'success',
          details: { reason: 'intermediate compromise: the CA certificate enters its root\'s inventory to be revoked', issuerId: root.id, subject: ca.subject },
        }));
      }
      try {
        await this.o.revocation.revoke(serial, 'cACompromise', actor);
      } catch (e) {
        if (!(isRampartError(e) && e.code === 'alreadyRevoked')) throw e;
      }
      notes.push(`intermediate ${ca.subject} (serial ${serial}) revoked by ${root.subject} (cACompromise: on its CRL and OCSP)`);
    }
    return notes.length ? `; ${notes.join('; ')}` : '';
  }

  /** The deadline job: finishes an active campaign whose deadline has passed (nothing when a finish is running already). */
  async finishIfDue(o: { batch?: number; onBatch?: (r: SweepResult) => void } = {}): Promise<FinishResult | null> {
    if (this.finishing) return null;
    const c = await this.load();
    if (!c?.deadline || c.deadline > this.o.clock.now()) return null;
    return this.finish({ actor: SYSTEM_ACTOR, force: true, ...o });
  }
}
