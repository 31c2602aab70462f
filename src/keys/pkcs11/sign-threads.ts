/**
 * Signatures off the event loop. pkcs11js runs C_Sign asynchronously, but not
 * C_SignInit, and a token may do most of its work there: SoftHSM2 decrypts
 * the private key in C_SignInit (measured: 67 µs of 127), and a network HSM
 * may make a round trip. So C_SignInit and C_Sign run together, synchronously,
 * in worker threads.
 *
 * A worker loads the same library into this process: the dynamic loader hands
 * it the instance the main thread initialized (workers never call
 * C_Initialize or C_Finalize), so session and object handles are shared.
 * The caller holds the session exclusively (SessionPool), so workers never
 * share one. Workers are started on demand up to `max`; an idle one does not
 * keep the process alive, a busy one does.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';

const PKCS11JS = createRequire(import.meta.url).resolve('pkcs11js');

const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const P = require(workerData.pkcs11js);
const p = new P.PKCS11();
p.load(workerData.module);
parentPort.postMessage({ ready: true });
const buf = (u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
parentPort.on('message', (m) => {
  try {
    const session = buf(m.session);
    p.C_SignInit(session, { mechanism: m.mechanism }, buf(m.key));
    const out = p.C_Sign(session, buf(m.data), Buffer.alloc(m.max));
    parentPort.postMessage({ id: m.id, out });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { message: String(e && e.message), code: e && e.code, method: e && e.method, pkcs11: e instanceof P.Pkcs11Error } });
  }
});
`;

/** A view on its own buffer: structured cloning a view copies its whole backing buffer (Buffer's 8 KiB pool slab). */
const exact = (b: Buffer): Uint8Array => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b));

interface Job {
  id: number;
  session: Buffer;
  key: Buffer;
  mechanism: number;
  data: Buffer;
  max: number;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface Reply {
  /** Sent once the thread has loaded the addon and the module. */
  ready?: true;
  id: number;
  out?: Uint8Array;
  error?: { message: string; code?: number; method?: string; pkcs11: boolean };
}

export class SignThreads {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;
  /** Threads still loading the addon: they must not be terminated, nor the process left, before that ends (a native addon torn down in its init crashes the process). */
  private readonly loading = new Map<Worker, Promise<void>>();

  constructor(private readonly modulePath: string, private readonly max = 64) {}

  get threads(): number { return this.idle.length + this.busy.size; }

  /** C_SignInit + C_Sign on `session` (held exclusively by the caller) in a worker thread. */
  sign(session: Buffer, key: Buffer, mechanism: number, data: Buffer, max: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('the PKCS#11 signing threads are stopped'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, session, key, mechanism, data, max, resolve, reject });
      this.dispatch();
    });
  }

  /** Starts `n` threads ahead of the first signatures. */
  prestart(n: number): void {
    while (!this.closed && this.threads < Math.min(n, this.max)) this.idle.push(this.spawn());
  }

  private dispatch(): void {
    while (this.queue.length) {
      let w = this.idle.pop();
      if (!w) {
        if (this.threads >= this.max) return;
        w = this.spawn();
      }
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.ref(); // a thread with a job keeps the process alive until the answer is in
      w.postMessage({ id: job.id, session: exact(job.session), key: exact(job.key), mechanism: job.mechanism, data: exact(job.data), max: job.max });
    }
  }

  private spawn(): Worker {
    const w = new Worker(SOURCE, { eval: true, workerData: { pkcs11js: PKCS11JS, module: this.modulePath } });
    let loaded!: () => void;
    this.loading.set(w, new Promise<void>((r) => { loaded = r; }));
    const doneLoading = (): void => { this.loading.delete(w); loaded(); };
    w.on('message', (m: Reply) => {
      if (m.ready) {
        doneLoading();
        if (!this.busy.has(w)) w.unref();
        return;
      }
      const job = this.busy.get(w);
      this.busy.delete(w);
      w.unref();
      if (!this.closed) this.idle.push(w);
      if (job && job.id === m.id) {
        if (m.out) job.resolve(Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength));
        else if (m.error?.pkcs11) job.reject(new pkcs11js.Pkcs11Error(m.error.message, m.error.code, m.error.method));
        else job.reject(new pkcs11js.NativeError(m.error?.message ?? 'signing thread failed', m.error?.method));
      }
      this.dispatch();
    });
    const lost = (why: string): void => {
      doneLoading();
      const job = this.busy.get(w);
      this.busy.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      job?.reject(new pkcs11js.NativeError(`PKCS#11 signing thread ${why}`));
      if (!this.closed) this.dispatch();
    };
    w.on('error', (e) => lost(`failed: ${e.message}`));
    w.on('exit', (code) => lost(`exited (${code})`));
    // A loading thread stays referenced until it reports ready; after that, idle threads never keep
    // the process alive (attaching 'message' refs the worker, so this comes after the listeners).
    w.ref();
    return w;
  }

  /** Stops every thread; call only with no signature in flight (Pkcs11Module.release). */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('the PKCS#11 signing threads are stopped'));
    await Promise.race([Promise.all(this.loading.values()), new Promise((r) => setTimeout(r, 5000).unref())]);
    const all = [...this.idle.splice(0), ...this.busy.keys()];
    await Promise.all(all.map((w) => w.terminate()));
  }
}
