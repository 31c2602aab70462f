/** The ACME server of one node: nonces, accounts, orders, certificates and the background sweeper. */
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
}
