/** Builds the PKCS#11 backend from the `keys.pkcs11` settings (the wiring in src/main/node.ts calls this). */
import type { RampartConfig } from '../../config/schema.js';
import { parsePkcs11Uri } from './pkcs11-uri.js';
import { Pkcs11KeyBackend } from './pkcs11-backend.js';
import { configuredPin, pinFor } from './pin.js';
import type { PoolLogger } from './token-pool.js';

export async function openPkcs11Backend(settings: RampartConfig['keys']['pkcs11'], o: { dataDir: string; env: NodeJS.ProcessEnv; log?: PoolLogger }): Promise<Pkcs11KeyBackend> {
  if (settings.tokens.length === 0) {
    throw new Error('keys.backend is pkcs11 but keys.pkcs11.tokens is empty: list the token(s) to use, e.g. ["pkcs11:token=rampart"] (RAMPART_KEYS__PKCS11__TOKENS)');
  }
  const sources = { pinFile: settings.pinFile, pinEnv: settings.pinEnv, env: o.env, baseDir: o.dataDir };
  const fallback = configuredPin(sources);
  const tokens = settings.tokens.map((uri) => ({ uri, pin: pinFor(parsePkcs11Uri(uri), uri, fallback, sources) }));
  return Pkcs11KeyBackend.open({
    module: settings.module, tokens, sessionsPerToken: settings.sessionsPerToken, extractable: settings.extractable,
    retrySeconds: settings.retrySeconds, log: o.log,
  });
}
