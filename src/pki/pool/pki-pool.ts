/**
 * Worker threads for the CPU work of issuance (pki-jobs.ts): parsing and
 * verifying CSRs, encoding and linting certificates. The thread that answers
 * OCSP, CRL and API requests hands them over and stays free; keys never
 * leave it (the signature is made there, after the worker's lint has passed).
 * Jobs go to the worker with the fewest in flight. A worker that dies fails
 * its jobs and is replaced. With 0 workers the jobs run on the caller's
 * thread, unchanged.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RampartError, type ErrorCode } from '../../core/errors.js';
import type { ParsedCsr } from '../csr.js';
import type { SyntheticTbs } from '../synthetic/synthetic-encode.js';
import {
  crlAssembleJob, crlTbsJob, csrJob, fromPlainCsr, syntheticJob, tbsJob, transferables,
  type CrlAssembleJob, type CrlTbsJob, type CrlTbsResult, type Job, type JobError, type PlainCsr, type SyntheticJob, type TbsJob, type TbsResult,
} from './pki-jobs.js';

interface Pending { resolve: (v: unknown) => void; reject: (e: unknown) => void }
interface Slot { worker: Worker; inFlight: Map<number, Pending> }

const ENTRY = new URL('./pki-worker-entry.mjs', import.meta.url);

/** The default number of workers: one per CPU, at most 4. */
export function defaultWorkerCount(): number {
  return Math.min(4, availableParallelism());
}

function fromJobError(e: JobError): Error {
  return e.code ? new RampartError(e.code as ErrorCode, e.message, e.extra ?? {}) : new Error(e.message);
}

export class PkiPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  /**
   * Workers start on the first job: a process that issues nothing (most CLI
   * commands) starts none. A `background` pool's workers run at a lower CPU
   * priority (core/thread-priority.ts): the node's CRL encoding, which gives
   * way to OCSP and issuance when they want the same core.
   */
  constructor(private readonly size: number, private readonly onError: (e: unknown) => void = () => undefined, private readonly opts: { background?: boolean } = {}) {}

  get workers(): number { return this.slots.length; }

  async parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
    const plain = this.size ? await this.run({ kind: 'csr', input }) as PlainCsr : await csrJob(input);
    return fromPlainCsr(plain);
  }

  async encodeAndLint(job: TbsJob): Promise<TbsResult> {
    return this.size ? await this.run({ kind: 'tbs', job }) as TbsResult : tbsJob(job);
  }

  /**
   * A CRL's TBSCertList (crl-assembly.ts) and the lint of its preview. The
   * chunks move to the worker (they are unusable here afterwards), and the
   * TBSCertList moves back: a large CRL is never copied between threads.
   */
  async crlTbs(job: CrlTbsJob): Promise<CrlTbsResult> {
    return this.size ? await this.run({ kind: 'crl-tbs', job }, transferables(job.chunks)) as CrlTbsResult : crlTbsJob(job);
  }

  /** The CertificateList around a signed TBSCertList (which moves to the worker). */
  async crlAssemble(job: CrlAssembleJob): Promise<Uint8Array> {
    return this.size ? await this.run({ kind: 'crl-assemble', job }, transferables(job.tbsDer)) as Uint8Array : crlAssembleJob(job);
  }

  /** Encodes a range of the synthetic inventory (capacity tests). */
  async encodeSynthetic(job: SyntheticJob): Promise<SyntheticTbs[]> {
    return this.size ? await this.run({ kind: 'synthetic', job }) as SyntheticTbs[] : syntheticJob(job);
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const s of slots) for (const p of s.inFlight.values()) p.reject(new RampartError('unavailable', 'the node is stopping'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = new Worker(ENTRY, { workerData: { background: this.opts.background === true } });
    worker.unref();
    const slot: Slot = { worker, inFlight: new Map() };
    worker.on('message', (m: { id: number; result?: unknown; error?: JobError }) => {
      const p = slot.inFlight.get(m.id);
      if (!p) return;
      slot.inFlight.delete(m.id);
      if (!slot.inFlight.size) worker.unref();
      if (m.error) p.reject(fromJobError(m.error));
      else p.resolve(m.result);
    });
    const fail = (e: unknown): void => {
      for (const p of slot.inFlight.values()) p.reject(e instanceof Error ? e : new Error(String(e)));
      slot.inFlight.clear();
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closed) {
        this.onError(e);
        this.slots[i] = this.spawn();
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => { if (!this.closed) fail(new Error(`PKI worker exited with code ${code}`)); });
    return slot;
  }

  private run(job: Job, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.closed) return Promise.reject(new RampartError('unavailable', 'the node is stopping'));
    while (this.slots.length < this.size) this.slots.push(this.spawn());
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inFlight.size < slot.inFlight.size) slot = s;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // A worker keeps the process alive only while it has work (a CLI command waits for its jobs, an idle node is not held).
      if (!slot.inFlight.size) slot.worker.ref();
      slot.inFlight.set(id, { resolve, reject });
      slot.worker.postMessage({ id, job }, transfer);
    });
  }
}
