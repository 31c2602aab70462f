/**
 * Validation that outlives the nodes: the leader keeps a static copy of
 * everything a relying party fetches — a pre-signed OCSP answer for every
 * unexpired certificate (one per CertID hash clients use), each CA's CRL
 * and the CA certificates — in a directory any static web server can serve
 * (src/validation/mirror/static-ocsp-names.ts says how a request finds its
 * file). Answers are re-signed before they come within refreshBefore of
 * their nextUpdate, a revocation (on this node or any other process) is
 * published within about a second, expired certificates' answers are
 * removed. `mirror.json` records when the copy was made and when its first
 * answer or CRL expires: with every node down, that is how long the copy
 * keeps validation up.
 */
import type { Logger } from 'pino';
import { publishedCas } from '../../ca/trust-bundle.js';
import type { CertificateAuthority } from '../../ca/certificate-authority.js';
import type { Clock } from '../../core/clock.js';
import type { CaEvents } from '../../core/events.js';
import { Periodic } from '../../core/periodic.js';
import type { IssuerRecord } from '../../core/types.js';
import { toPem } from '../../pki/certificate-builder.js';
import { certificateSerialHex } from '../../pki/certificate-serial.js';
import type { CertificateStore } from '../../storage/store.js';
import type { CrlService } from '../crl/crl-service.js';
import type { OcspHashName } from '../ocsp/ocsp-codec.js';
import type { OcspResponder } from '../ocsp/ocsp-responder.js';
import type { MirrorStore } from './mirror-store.js';
import { singleOcspRequestDer, staticOcspName } from './static-ocsp-names.js';

export interface ValidationMirrorOptions {
  /** Where the copy goes: a directory, a bucket, or both (mirror-store.ts). */
  target: MirrorStore;
  hashes: OcspHashName[];
  /** A full pass (new certificates, answers due for re-signing, expired ones removed) this often. */
  everySeconds: number;
  /** Published answers are re-signed this long before their nextUpdate. */
  refreshBeforeSeconds: number;
  ca: CertificateAuthority;
  ocsp: Pick<OcspResponder, 'responseFor'>;
  crl: Pick<CrlService, 'current' | 'shards'>;
  store: Pick<CertificateStore, 'listCertificates' | 'revocationsSince' | 'lastRevocationSeq' | 'getCertificate'>;
  events: CaEvents;
  clock: Clock;
  /** Only the leader (or a single node) publishes. */
  isLeader: () => boolean;
  log: Logger;
  /** CAs dropped from bundle.pem (the old hierarchy of a finished root-loss campaign). */
  retired?: () => ReadonlySet<string>;
}

/** What `mirror.json` says. */
export interface MirrorStatus {
  publishedAt: string;
  /** The earliest nextUpdate of any published OCSP answer or CRL: the copy is complete until then. */
  validUntil: string | null;
  ocspAnswers: number;
  certificates: number;
  /** Each published CRL: `<ca>` for the complete CRL, `<ca>/<shard>` for a shard. */
  crls: Array<{ scope: string; number: string; nextUpdate: string }>;
}

interface Published { files: string[]; status: string; nextUpdate: number; notAfter: number }

const PAGE = 500;
const key = (issuerId: string, serial: string): string => `${issuerId}:${serial}`;
const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

export class ValidationMirror {
  private readonly published = new Map<string, Published>();
  private readonly crls = new Map<string, { number: bigint; nextUpdate: number }>();
  private readonly dirty = new Map<string, { issuerId: string; serial: string }>();
  private readonly jobs: Periodic;
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private started = false;
  private status: MirrorStatus | null = null;

  constructor(private readonly o: ValidationMirrorOptions) {
    this.jobs = new Periodic((e) => o.log.error({ err: e }, 'validation mirror failed'));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.o.events.on('revoked', (rec) => this.mark(rec.issuerId, rec.serial));
    this.o.events.on('issued', (rec) => this.mark(rec.issuerId, rec.serial));
    void this.serial(() => this.skipOldRevocations()).then(() => this.publishAll()).catch((e) => this.o.log.error({ err: e }, 'validation mirror failed'));
    this.jobs.every(1000, () => this.catchUp());
    this.jobs.every(this.o.everySeconds * 1000, () => this.publishAll());
  }

  stop(): Promise<void> {
    this.jobs.stop();
    return this.chain.then(() => undefined, () => undefined);
  }

  /** The last `mirror.json` written (null before the first full pass). */
  lastStatus(): MirrorStatus | null { return this.status; }

  private mark(issuerId: string, serial: string): void {
    this.dirty.set(key(issuerId, serial), { issuerId, serial });
  }

  /** One pass at a time: passes, catch-ups and their writes never overlap. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async skipOldRevocations(): Promise<void> {
    this.seq = Math.max(this.seq, await this.o.store.lastRevocationSeq());
  }

  /** Every second: revocations by other processes, this node's new certificates and revocations, new CRLs. */
  catchUp(): Promise<void> {
    return this.serial(async () => {
      if (!this.o.isLeader()) return;
      for (let i = 0; i < 100; i++) {
        const batch = await this.o.store.revocationsSince(this.seq, 1000);
        for (const ev of batch) { this.seq = ev.seq; this.mark(ev.issuerId, ev.serial); }
        if (batch.length < 1000) break;
      }
      const due = [...this.dirty.values()];
      this.dirty.clear();
      const now = this.o.clock.now();
      for (const d of due) {
        const rec = await this.o.store.getCertificate(d.serial);
        if (rec && rec.issuerId === d.issuerId) await this.publishAnswer(d.issuerId, d.serial, rec.notAfter.getTime(), rec.status, true, now);
      }
      if (await this.publishCrls() || due.length) await this.writeStatus();
    });
  }

  /** A full pass; resolves when the copy is complete. */
  publishAll(): Promise<void> {
    return this.serial(async () => {
      if (!this.o.isLeader()) return;
      const now = this.o.clock.now();
      await this.publishCaCertificates();
      const seen = new Set<string>();
      for (const issuer of this.answeringCas()) {
        for (const status of ['good', 'revoked'] as const) {
          let cursor: string | undefined;
          for (let pages = 0; pages < 1_000_000; pages++) {
            const page = await this.o.store.listCertificates({ issuerId: issuer.id, status }, { limit: PAGE, ...(cursor ? { cursor } : {}) }, now);
            for (const c of page.items) {
              if (c.notAfter.getTime() <= now.getTime()) continue;
              seen.add(key(issuer.id, c.serial));
              await this.publishAnswer(issuer.id, c.serial, c.notAfter.getTime(), c.status, false, now);
            }
            await yieldNow();
            if (!page.nextCursor) break;
            cursor = page.nextCursor;
          }
        }
        // CA certificates this CA signed (an intermediate's status is answered by the root).
        for (const child of this.o.ca.all().filter((i) => i.parentId === issuer.id && i.kind !== 'ocsp-signer' && i.notAfter > now)) {
          const serial = certificateSerialHex(child.certDer);
          seen.add(key(issuer.id, serial));
          await this.publishAnswer(issuer.id, serial, child.notAfter.getTime(), 'good', false, now);
        }
      }
      await this.removeUnseen(seen);
      await this.publishCrls();
      await this.writeStatus();
    });
  }

  private answeringCas(): IssuerRecord[] {
    return this.o.ca.cas().filter((c) => this.o.ca.ocspSignerOf(c.id));
  }

  private async publishAnswer(issuerId: string, serial: string, notAfter: number, status: string, fresh: boolean, now: Date): Promise<void> {
    const k = key(issuerId, serial);
    const before = this.published.get(k);
    const edge = now.getTime() + this.o.refreshBeforeSeconds * 1000;
    if (!fresh && before && before.status === status && before.nextUpdate > edge) return;
    const issuer = this.o.ca.get(issuerId);
    if (!issuer) return;
    const files: string[] = [];
    let nextUpdate = Infinity;
    let answered = status;
    for (const hash of this.o.hashes) {
      const entry = await this.o.ocsp.responseFor(issuerId, serial, hash, { fresh: fresh || Boolean(before) });
      if (!entry) return;
      const name = `ocsp/${staticOcspName(singleOcspRequestDer(issuer.certDer, serial, hash))}`;
      await this.o.target.write(name, entry.der);
      files.push(name);
      nextUpdate = Math.min(nextUpdate, entry.nextUpdate.getTime());
      answered = entry.status;
    }
    this.published.set(k, { files, status: answered, nextUpdate, notAfter });
  }

  private async removeUnseen(seen: Set<string>): Promise<void> {
    const keep = new Set<string>();
    for (const [k, p] of this.published) {
      if (seen.has(k)) for (const f of p.files) keep.add(f.slice('ocsp/'.length));
      else this.published.delete(k);
    }
    // Files of certificates that expired (also from before a restart) go.
    for (const name of await this.o.target.list('ocsp')) {
      if (!keep.has(name)) await this.o.target.remove(`ocsp/${name}`);
    }
  }

  /** Writes the CRLs that changed (each CA's complete CRL and every shard's); true when one did. */
  private async publishCrls(): Promise<boolean> {
    let changed = false;
    for (const ca of this.o.ca.cas()) {
      for (const shard of [null, ...Array.from({ length: this.o.crl.shards }, (_, i) => i)]) {
        const crl = await this.o.crl.current(ca.id, shard);
        const scope = shard === null ? ca.id : `${ca.id}/${shard}`;
        if (!crl || this.crls.get(scope)?.number === crl.number) continue;
        await this.o.target.write(`crl/${scope}.crl`, crl.der);
        await this.o.target.write(`crl/${scope}.pem`, toPem(crl.der, 'X509 CRL'));
        this.crls.set(scope, { number: crl.number, nextUpdate: crl.nextUpdate.getTime() });
        changed = true;
      }
    }
    return changed;
  }

  private async publishCaCertificates(): Promise<void> {
    const cas = this.o.ca.cas();
    for (const c of cas) {
      await this.o.target.write(`ca/${c.id}.crt`, c.certDer);
      await this.o.target.write(`ca/${c.id}.pem`, toPem(c.certDer));
    }
    await this.o.target.write('ca/bundle.pem', publishedCas(this.o.ca, this.o.retired?.()).map((c) => toPem(c.certDer)).join(''));
  }

  private async writeStatus(): Promise<void> {
    let validUntil = Infinity;
    let answers = 0;
    for (const p of this.published.values()) { validUntil = Math.min(validUntil, p.nextUpdate); answers += p.files.length; }
    const crls = [...this.crls].map(([scope, c]) => {
      validUntil = Math.min(validUntil, c.nextUpdate);
      return { scope, number: c.number.toString(), nextUpdate: new Date(c.nextUpdate).toISOString() };
    });
    this.status = {
      publishedAt: this.o.clock.now().toISOString(),
      validUntil: Number.isFinite(validUntil) ? new Date(validUntil).toISOString() : null,
      ocspAnswers: answers, certificates: this.published.size, crls,
    };
    await this.o.target.write('mirror.json', `${JSON.stringify(this.status, null, 2)}\n`);
  }
}
