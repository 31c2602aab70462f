/** Health: the key backend answers (an HSM pool that lost a token is degraded, not failed). */
import type { HealthRegistry } from '../health/health.js';
import type { KeyBackend } from './key-backend.js';

export function registerKeyBackendCheck(o: { health: HealthRegistry; keys: KeyBackend }): void {
  o.health.add('keyBackend', async () => {
    const h = await o.keys.health();
    return { status: !h.ok ? 'fail' : h.degraded ? 'warn' : 'pass', detail: `${o.keys.type}: ${h.detail}` };
  }, { critical: true });

}
