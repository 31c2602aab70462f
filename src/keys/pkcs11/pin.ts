/**
 * The token user PIN: keys.pkcs11.pinFile (first line) when set, else the
 * environment variable keys.pkcs11.pinEnv. A token URI may carry its own
 * (RFC 7512 pin-source=<file> or pin-value=), which wins for that token.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pkcs11Uri } from './pkcs11-uri.js';

function firstLine(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${what} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const pin = text.split(/\r?\n/, 1)[0] ?? '';
  if (pin === '') throw new Error(`${what} ${path} is empty: its first line must be the token user PIN`);
  return pin;
}

export interface PinSources {
  /** Absolute, or relative to baseDir. */
  pinFile?: string;
  pinEnv: string;
  env: NodeJS.ProcessEnv;
  baseDir: string;
}

/** The configured PIN, or null when neither pinFile nor the variable is set. */
export function configuredPin(o: PinSources): string | null {
  if (o.pinFile) return firstLine(resolve(o.baseDir, o.pinFile), 'keys.pkcs11.pinFile');
  const v = o.env[o.pinEnv];
  return v === undefined || v === '' ? null : v;
}

/** The PIN for one token: its URI's pin-value / pin-source, else the configured one; throws a clear error when there is none. */
export function pinFor(uri: Pkcs11Uri, uriText: string, fallback: string | null, o: PinSources): string {
  if (uri.pinValue !== undefined) return uri.pinValue;
  if (uri.pinSource !== undefined) {
    const src = uri.pinSource.startsWith('file:') ? fileURLToPath(uri.pinSource) : uri.pinSource;
    if (/^[a-z][a-z0-9+.-]*:/i.test(src) && !isAbsolute(src)) throw new Error(`${uriText}: pin-source must be a file path or a file: URI`);
    return firstLine(resolve(o.baseDir, src), `pin-source of ${uriText}:`);
  }
  if (fallback !== null) return fallback;
  throw new Error(`keys.backend is pkcs11 but no token user PIN is configured: set the environment variable ${o.pinEnv} or keys.pkcs11.pinFile (a file whose first line is the PIN)`);
}
