/** Parsers for CLI option values shared by several commands (commander argParser functions). */
import { KEY_ALGORITHMS, isKeyAlgorithm, type KeyAlgorithm } from '../keys/key-backend.js';

export function alg(v: string): KeyAlgorithm {
  if (!isKeyAlgorithm(v)) throw new Error(`unknown key algorithm "${v}" (one of ${KEY_ALGORITHMS.join(', ')})`);
  return v;
}

export function days(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9125) throw new Error(`validity must be a whole number of days from 1 to 9125 (got "${v}")`);
  return n;
}
