/** Health: the database answers (critical: a node without it cannot issue or answer OCSP from the store). */
import type { HealthRegistry } from '../health/health.js';
import type { Store } from './store.js';

export function registerDatabaseCheck(o: { health: HealthRegistry; store: Store }): void {
  o.health.add('database', async () => {
    await o.store.ping();
    return { status: 'pass', detail: `${o.store.kind} reachable` };
  }, { critical: true });

}
