/**
 * The fault lab's workload: issuance, revocation and OCSP traffic through
 * HAProxy, and an observer reading the write lease straight from the
 * database, every operation recorded in a History (history.ts). Every loop
 * is bounded by a deadline as well as by stop(). After healing,
 * probeRevocations asks every node directly for each revoked serial.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Agent } from 'node:https';
import postgres from 'postgres';
import { httpCall, type HttpResponse } from '../../src/core/http-client.js';
import { sleep } from '../../src/core/wait.js';
import { ocspRequestDer } from '../../src/dr/ocsp-probe.js';
import { buildCsr } from '../../src/pki/csr-builder.js';
import { readOcspResponse } from '../../src/validation/ocsp/ocsp-codec.js';
import type { History, Op, Outcome } from './history.js';
import { normSerial } from './history-checker.js';

export interface WorkloadOptions {
  /** HAProxy's HTTPS API frontend and plain HTTP validation frontend. */
  apiUrl: string;
  validationUrl: string;
  token: string;
  /** PEM bundle trusted for apiUrl. */
  ca: string;
  /** Where to read the lease row from ('host:port' of PostgreSQL), and which lease. */
  leaseDb?: { address: string; lease: string };
  issuers?: number;
  revokeEveryMs?: number;
  ocspEveryMs?: number;
  leaseEveryMs?: number;
  /** A request without an answer after this long is 'unknown'. */
  timeoutMs?: number;
  /** Hard bound on the whole run. */
  maxRunMs?: number;
}

const pemToDer = (pem: string): Buffer => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
const firstPem = (pem: string): string => /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0] ?? '';

/** ok for 2xx; unknown for no answer or a gateway that lost it (502, 504); failed otherwise. */
export function classify(r: HttpResponse | Error): { outcome: Outcome; detail: string } {
  if (r instanceof Error) {
    return /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/.test(r.message) ? { outcome: 'failed', detail: r.message } : { outcome: 'unknown', detail: r.message };
  }
  if (r.status >= 200 && r.status < 300) return { outcome: 'ok', detail: String(r.status) };
  if (r.status === 502 || r.status === 504) return { outcome: 'unknown', detail: String(r.status) };
  const type = (r.body as { type?: string } | undefined)?.type;
  return { outcome: 'failed', detail: `${r.status}${type ? ` ${type}` : ''}` };
}

const nodeOf = (r: HttpResponse | Error): string | null => (r instanceof Error ? null : (r.headers['x-rampart-node'] as string | undefined) ?? null);

export class Workload {
  private stopped = false;
  private running: Promise<void>[] = [];
  private readonly agent: Agent;
  private readonly acked: string[] = [];
  private readonly revoked = new Set<string>();
  issuerDer: Uint8Array | null = null;
  private deadline = 0;
  private seq = 0;

  constructor(private readonly h: History, private readonly o: WorkloadOptions) {
    this.agent = new Agent({ keepAlive: true, ca: o.ca, maxSockets: 16 });
  }

  /** Serials acknowledged as revoked so far. */
  revokedSerials(): string[] { return [...this.revoked]; }

  start(): void {
    this.deadline = Date.now() + (this.o.maxRunMs ?? 180_000);
    this.h.mark('load-start');
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < (this.o.issuers ?? 2); i++) this.running.push(this.loop(0, () => this.issue(key)));
    this.running.push(this.loop(this.o.revokeEveryMs ?? 300, () => this.revoke()));
    this.running.push(this.loop(this.o.ocspEveryMs ?? 100, () => this.ocsp()));
    if (this.o.leaseDb) this.running.push(this.observeLease(this.o.leaseDb));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
    this.agent.destroy();
    this.h.mark('load-stop');
  }

  private live(): boolean { return !this.stopped && Date.now() < this.deadline; }

  private async loop(everyMs: number, step: () => Promise<void>): Promise<void> {
    while (this.live()) {
      const t = Date.now();
      await step();
      const wait = everyMs - (Date.now() - t);
      if (wait > 0) await sleep(wait);
    }
  }

  private call(url: string, opts: Parameters<typeof httpCall>[1]): Promise<HttpResponse | Error> {
    return httpCall(url, { ...opts, agent: url.startsWith('https:') ? this.agent : undefined, timeoutMs: this.o.timeoutMs ?? 8000 }).catch((e: Error) => e);
  }

  private async issue(key: { privateKey: import('node:crypto').KeyObject; publicKey: import('node:crypto').KeyObject }): Promise<void> {
    const id = `i${++this.seq}`;
    const cn = `${id}-${randomUUID().slice(0, 8)}.lab.test`;
    const idemKey = randomUUID();
    const csr = await buildCsr({ key: key.privateKey, publicKey: key.publicKey, algorithm: 'ecdsa-p256', cn, sans: [cn] });
    const invoke = Date.now();
    const r = await this.call(`${this.o.apiUrl}/api/v1/certificates`, { token: this.o.token, json: { csr, profile: 'server' }, headers: { 'idempotency-key': idemKey } });
    const complete = Date.now();
    const c = classify(r);
    const op: Op = { type: 'issue', id, key: idemKey, cn, invoke, complete, node: nodeOf(r), outcome: c.outcome, detail: c.detail };
    if (c.outcome === 'ok' && !(r instanceof Error)) {
      const body = r.body as { serial: string; certificatePem: string; chainPem: string };
      op.serial = normSerial(body.serial);
      op.der = pemToDer(body.certificatePem).toString('base64');
      this.issuerDer ??= pemToDer(firstPem(body.chainPem));
      this.acked.push(op.serial);
    }
    this.h.add(op);
    // A refusal comes back at once (HAProxy's 503 while no node is writable): do not spin.
    if (c.outcome === 'failed') await sleep(100);
  }

  private async revoke(): Promise<void> {
    const candidates = this.acked.filter((s) => !this.revoked.has(s));
    if (candidates.length < 2) return;
    const serial = candidates[Math.floor(Math.random() * candidates.length)]!;
    this.revoked.add(serial); // asked once, whatever the outcome
    const invoke = Date.now();
    const r = await this.call(`${this.o.apiUrl}/api/v1/certificates/${serial}/revoke`, { token: this.o.token, json: { reason: 'superseded' } });
    const c = classify(r);
    if (c.outcome !== 'ok') this.revoked.delete(serial);
    this.h.add({ type: 'revoke', id: `r${++this.seq}`, serial, invoke, complete: Date.now(), node: nodeOf(r), outcome: c.outcome, detail: c.detail });
    if (c.outcome === 'unknown') this.revoked.add(serial);
  }

  private async ocsp(): Promise<void> {
    if (!this.issuerDer || this.acked.length === 0) return;
    const serial = this.acked[Math.floor(Math.random() * this.acked.length)]!;
    this.h.add(await ocspOp(`o${++this.seq}`, `${this.o.validationUrl}/ocsp`, this.issuerDer, serial, this.o.timeoutMs ?? 8000, false));
  }

  private async observeLease(db: { address: string; lease: string }): Promise<void> {
    const [host, port] = db.address.split(':');
    const sql = postgres({ host, port: Number(port), user: 'rampart', database: 'rampart', max: 1, connect_timeout: 2, idle_timeout: 0, onnotice: () => {} });
    try {
      while (this.live()) {
        const invoke = Date.now();
        const id = `l${++this.seq}`;
        try {
          const rows = await Promise.race([
            sql`SELECT holder, epoch::text AS epoch, expires_at, (extract(epoch from clock_timestamp())*1000)::bigint AS now FROM leases WHERE name = ${db.lease}`,
            sleep(2000).then(() => { throw new Error('lease read timed out'); }),
          ]);
          const r = rows[0];
          this.h.add({
            type: 'lease', id, lease: db.lease, invoke, complete: Date.now(), node: null, outcome: 'ok',
            holder: r ? (r.holder === null ? null : String(r.holder)) : null, epoch: r ? String(r.epoch) : '0',
            expiresAt: r?.expires_at == null ? null : Number(r.expires_at), dbNow: r ? Number(r.now) : Date.now(),
          });
        } catch (e) {
          this.h.add({ type: 'lease', id, lease: db.lease, invoke, complete: Date.now(), node: null, outcome: 'failed', detail: (e as Error).message });
        }
        await sleep(this.o.leaseEveryMs ?? 100);
      }
    } finally {
      await sql.end({ timeout: 2 }).catch(() => undefined);
    }
  }
}

async function ocspOp(id: string, url: string, issuerDer: Uint8Array, serial: string, timeoutMs: number, probe: boolean, node?: string): Promise<Op> {
  const invoke = Date.now();
  const r = await httpCall(url, { method: 'POST', body: ocspRequestDer(issuerDer, serial), headers: { 'content-type': 'application/ocsp-request' }, timeoutMs }).catch((e: Error) => e);
  const c = classify(r);
  const op: Op = { type: 'ocsp', id, serial, invoke, complete: Date.now(), node: node ?? nodeOf(r), outcome: c.outcome, detail: c.detail, ...(probe ? { probe } : {}) };
  if (c.outcome === 'ok' && !(r instanceof Error)) {
    try {
      const resp = readOcspResponse(r.raw);
      const single = resp.status === 'successful' ? resp.responses.find((x) => normSerial(x.certId.serialHex) === normSerial(serial)) : undefined;
      if (single) Object.assign(op, { status: single.status, thisUpdate: single.thisUpdate.getTime(), ...(single.nextUpdate ? { nextUpdate: single.nextUpdate.getTime() } : {}) });
      else { op.outcome = 'failed'; op.detail = `OCSP ${resp.status}`; }
    } catch (e) {
      op.outcome = 'failed';
      op.detail = (e as Error).message;
    }
  }
  return op;
}

/**
 * After healing: asks every node's own OCSP responder (not through HAProxy)
 * about every serial, every 200 ms until each answers revoked or `boundMs`
 * has passed; every probe goes into the history.
 */
export async function probeRevocations(h: History, nodes: Array<{ id: string; httpUrl: string }>, issuerDer: Uint8Array, serials: string[], boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  let n = 0;
  await Promise.all(nodes.map(async (node) => {
    const pending = new Set(serials);
    while (pending.size > 0 && Date.now() <= deadline) {
      for (const serial of [...pending]) {
        const op = await ocspOp(`p${node.id}-${++n}`, `${node.httpUrl}/ocsp`, issuerDer, serial, 5000, true, node.id);
        h.add(op);
        if (op.outcome === 'ok' && (op as { status?: string }).status === 'revoked') pending.delete(serial);
      }
      if (pending.size > 0) await sleep(200);
    }
  }));
}

/**
 * The longest time within [from, to] without an acknowledged operation of
 * `type` (edges included): the unavailability a client saw.
 */
export function longestGap(ops: Op[], type: 'issue' | 'ocsp', from: number, to: number): number {
  const times = ops.filter((o) => o.type === type && o.outcome === 'ok' && !(o.type === 'ocsp' && o.probe) && o.complete >= from && o.complete <= to).map((o) => o.complete).sort((a, b) => a - b);
  let prev = from;
  let worst = 0;
  for (const t of [...times, to]) { worst = Math.max(worst, t - prev); prev = t; }
  return worst;
}
