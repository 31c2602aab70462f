/**
 * The shares presented at a restore ceremony, checked one by one against the
 * backup file: right backup (else "foreign"), consistent with what the
 * backup says about that share (custodian, position, sealing, digest),
 * unsealed with the custodian's passphrase when sealed, and counted once per
 * index. Every share presented is journaled (custodian, index, outcome,
 * reason; never the share), accepted or not.
 */
import type { KeyBackupArtifact } from './backup-artifact.js';
import type { CeremonyJournal } from './ceremony-journal.js';
import { CustodyError, describeShare, type ShareRef } from './custody-error.js';
import { shareDigest } from './kek-sharing.js';
import type { ShareBlock } from './share-format.js';
import { unsealShare } from './share-sealing.js';

export type PresentResult =
  | { status: 'accepted'; index: number; custodian: string; have: number; need: number }
  | { status: 'duplicate'; index: number; custodian: string; have: number; need: number };

interface Accepted {
  share: Uint8Array;
  custodian: string;
  checksum: string;
  source: string;
}

/** Supplies the passphrase of a sealed share, or null when there is none. */
export type PassphraseSource = (share: ShareBlock) => Promise<Uint8Array | null>;

export class ShareCollection {
  private readonly accepted = new Map<number, Accepted>();
  private readonly rejections: string[] = [];

  constructor(readonly artifact: KeyBackupArtifact, private readonly journal: CeremonyJournal) {}

  get need(): number { return this.artifact.sharing.threshold; }
  get have(): number { return this.accepted.size; }
  complete(): boolean { return this.have >= this.need; }
  /** Why shares were turned away, one line each (for the final message). */
  rejected(): string[] { return [...this.rejections]; }
  /** Index and custodian of the accepted shares, in index order. */
  presented(): Array<{ index: number; custodian: string; checksum: string }> {
    return [...this.accepted.entries()].sort(([a], [b]) => a - b).map(([index, a]) => ({ index, custodian: a.custodian, checksum: a.checksum }));
  }

  /** The raw accepted shares (the collection wipes them in wipe()). */
  shares(): Uint8Array[] { return [...this.accepted.values()].map((a) => a.share); }

  wipe(): void {
    for (const a of this.accepted.values()) a.share.fill(0);
    this.accepted.clear();
  }

  /** A share that could not even be parsed (corrupted, not a share): journaled as rejected. */
  async reject(err: CustodyError | Error, ref: ShareRef = {}): Promise<void> {
    const r = { ...ref, ...(err instanceof CustodyError ? err.share : {}) };
    const problem = err instanceof CustodyError ? err.problem : 'error';
    this.rejections.push(err.message);
    await this.journal.step('key.restore.share', 'failure', `rejected ${describeShare(r)}: ${err.message}`, {
      backupId: this.artifact.backupId, custodian: r.custodian ?? null, index: r.index ?? null, source: r.source ?? null, problem, reason: err.message,
    });
  }

  /**
   * Checks one share and counts it. Throws CustodyError (after journaling the
   * rejection) when it is refused; a share already counted is reported as a
   * duplicate and not counted again.
   */
  async present(block: ShareBlock, passphrase?: PassphraseSource): Promise<PresentResult> {
    const ref = { custodian: block.custodian, index: block.index, source: block.source };
    try {
      const r = await this.check(block, passphrase);
      if (r.status === 'duplicate') {
        await this.journal.step('key.restore.share', 'failure', `${describeShare(ref)} presented again: not counted twice`, {
          backupId: block.backupId, custodian: block.custodian, index: block.index, source: block.source, problem: 'duplicate', checksum: block.checksum,
        });
      } else {
        this.journal.participant(block.custodian);
        await this.journal.step('key.restore.share', 'success', `accepted ${describeShare(ref)}${block.sealed ? ', unsealed with passphrase' : ''}, ${block.checksum} (${this.have} of ${this.need})`, {
          backupId: block.backupId, custodian: block.custodian, index: block.index, source: block.source, sealed: block.sealed, checksum: block.checksum,
        });
      }
      return r;
    } catch (e) {
      if (e instanceof CustodyError) await this.reject(e, ref);
      throw e;
    }
  }

  private async check(b: ShareBlock, passphrase?: PassphraseSource): Promise<PresentResult> {
    const a = this.artifact;
    const who = describeShare({ custodian: b.custodian, index: b.index, source: b.source });
    const ref = { custodian: b.custodian, index: b.index, source: b.source };
    if (b.backupId !== a.backupId) {
      throw new CustodyError('foreign', `${who} is foreign: it belongs to backup ${b.backupId} (issuer ${b.issuerId}), not to backup ${a.backupId} being restored`, ref);
    }
    const entry = a.sharing.custodians[b.index - 1];
    if (b.issuerId !== a.issuer.id || b.count !== a.sharing.shares || b.threshold !== a.sharing.threshold || !entry) {
      throw new CustodyError('conflict', `${who} contradicts the backup file (issuer, share count or threshold differ): wrong backup file, or an altered share`, ref);
    }
    if (entry.name !== b.custodian) {
      throw new CustodyError('conflict', `${who} names custodian ${b.custodian}, but backup ${a.backupId} gave share ${b.index} to ${entry.name}`, ref);
    }
    if (entry.sealed !== b.sealed) {
      throw new CustodyError('conflict', `${who} is ${b.sealed ? '' : 'not '}sealed, but backup ${a.backupId} handed it out ${entry.sealed ? 'sealed' : 'unsealed'}`, ref);
    }
    const have = this.accepted.get(b.index);
    if (have) {
      if (have.checksum === b.checksum) return { status: 'duplicate', index: b.index, custodian: b.custodian, have: this.have, need: this.need };
      throw new CustodyError('conflict', `${who} differs from the share ${b.index} already presented (from ${have.source}): one of them is not the share that was handed out`, ref);
    }
    let share: Uint8Array;
    if (b.sealed) {
      const p = passphrase ? await passphrase(b) : null;
      if (!p) throw new CustodyError('passphrase', `${who} is sealed: the custodian's passphrase is needed`, ref);
      share = unsealShare(p, b.data, { backupId: b.backupId, index: b.index, custodian: b.custodian, source: b.source });
    } else {
      share = new Uint8Array(b.data);
    }
    if (shareDigest(a.backupId, b.index, share) !== entry.shareDigest) {
      share.fill(0);
      throw new CustodyError('conflict', `${who} is not the share that backup ${a.backupId} issued to ${entry.name} (digest differs): an altered or substituted share`, ref);
    }
    this.accepted.set(b.index, { share, custodian: b.custodian, checksum: b.checksum, source: b.source });
    return { status: 'accepted', index: b.index, custodian: b.custodian, have: this.have, need: this.need };
  }
}
