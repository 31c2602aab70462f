/**
 * Replay nonces (RFC 8555 §6.5) valid on every node of a cluster and usable
 * once. A nonce is self-authenticating: expiry and randomness under an HMAC
 * keyed from the node secret that all nodes of a cluster share, so issuing
 * one costs no database write. Using one records it in the shared database,
 * and a second use anywhere in the cluster finds the record: badNonce.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { AcmeStore } from '../storage/store.js';
import { AcmeError } from './problems.js';

const RANDOM = 12;
const MAC = 16;
const LENGTH = 8 + RANDOM + MAC;

export interface NonceServiceOptions {
  secret: Uint8Array;
  store: Pick<AcmeStore, 'consumeAcmeNonce'>;
  clock: Clock;
  lifetimeSeconds: number;
}

export class NonceService {
  private readonly key: Buffer;

  constructor(private readonly o: NonceServiceOptions) {
    this.key = Buffer.from(hkdfSync('sha256', o.secret, 'rampart-acme-nonce', 'v1', 32));
  }

  issue(): string {
    const buf = Buffer.alloc(LENGTH);
    buf.writeBigUInt64BE(BigInt(this.o.clock.now().getTime() + this.o.lifetimeSeconds * 1000), 0);
    randomBytes(RANDOM).copy(buf, 8);
    this.mac(buf.subarray(0, 8 + RANDOM)).copy(buf, 8 + RANDOM);
    return buf.toString('base64url');
  }

  /** Checks a nonce and records it as used; throws badNonce when forged, expired or already used. */
  async consume(nonce: unknown): Promise<void> {
    const expires = this.check(nonce);
    const first = await this.o.store.consumeAcmeNonce(nonce as string, expires);
    if (!first) throw new AcmeError('badNonce', 'this nonce was already used; get a fresh one from newNonce or the Replay-Nonce header');
  }

  /** The expiry of a well-formed, authentic, unexpired nonce; throws badNonce otherwise. */
  check(nonce: unknown): Date {
    if (typeof nonce !== 'string' || nonce.length === 0) throw new AcmeError('badNonce', 'the JWS protected header has no nonce');
    if (!/^[A-Za-z0-9_-]+$/.test(nonce)) throw new AcmeError('badNonce', 'the nonce is not base64url');
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== LENGTH) throw new AcmeError('badNonce', 'the nonce was not issued by this server');
    const expected = this.mac(buf.subarray(0, 8 + RANDOM));
    if (!timingSafeEqual(expected, buf.subarray(8 + RANDOM))) throw new AcmeError('badNonce', 'the nonce was not issued by this server');
    const expires = new Date(Number(buf.readBigUInt64BE(0)));
    if (expires.getTime() <= this.o.clock.now().getTime()) throw new AcmeError('badNonce', 'the nonce has expired; get a fresh one');
    return expires;
  }

  private mac(data: Buffer): Buffer {
    return createHmac('sha256', this.key).update(data).digest().subarray(0, MAC);
  }
}
