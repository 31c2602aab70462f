/** The ACME server of one node: nonces, accounts, orders, certificates and the background sweeper. */
import { Periodic } from '../core/periodic.js';
import { AccountService } from './account-service.js';
import { CertificateService } from './certificate-service.js';
import type { AcmeDeps } from './context.js';
import { NonceService } from './nonces.js';
import { OrderService } from './order-service.js';

export class AcmeServer {
  readonly nonces: NonceService;
  readonly accounts: AccountService;
  readonly orders: OrderService;
  readonly certificates: CertificateService;

  constructor(readonly deps: AcmeDeps, secret: Uint8Array) {
    this.nonces = new NonceService({ secret, store: deps.store, clock: deps.clock, lifetimeSeconds: deps.settings.nonceLifetimeSeconds });
    this.accounts = new AccountService(deps);
    this.orders = new OrderService(deps);
    this.certificates = new CertificateService(deps);
  }

  /** Finishes work dead nodes left (every node runs it; compare-and-set keeps it single). */
  sweep(): Promise<{ validations: number; orders: number }> {
    return this.orders.sweep();
  }

  /** Housekeeping the leader runs: expired nonce records and old rate-limit events. */
  async prune(): Promise<{ nonces: number; rateEvents: number }> {
    const nonces = await this.deps.store.pruneAcmeNonces(this.deps.clock.now());
    const rateEvents = await this.deps.limits.prune();
    return { nonces, rateEvents };
  }

  private jobs: Periodic | null = null;

  /** The sweeper every 10 s on every node; pruning every 10 min where isLeader() (the leader, or a single node). */
  start(isLeader: () => boolean): void {
    const jobs = (this.jobs ??= new Periodic((e) => this.deps.log.error({ err: e }, 'background job failed')));
    jobs.every(10_000, async () => {
      const r = await this.sweep();
      if (r.validations || r.orders) this.deps.log.info(r, 'ACME sweeper finished work left by another node');
    });
    jobs.every(600_000, async () => { if (isLeader()) await this.prune(); });
  }

  stop(): void {
    this.jobs?.stop();
  }
}
