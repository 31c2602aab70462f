/** `--passphrase-file NAME=FILE`: custodian passphrases for scripted ceremonies (first line of the file). */
import { readFileSync } from 'node:fs';
import { CustodyError } from './custody-error.js';

export function readPassphraseFiles(specs: string[], custodians: string[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new CustodyError('invalid-request', `--passphrase-file wants NAME=FILE (got "${spec}")`);
    const name = spec.slice(0, eq);
    const file = spec.slice(eq + 1);
    if (!custodians.includes(name)) throw new CustodyError('invalid-request', `--passphrase-file names "${name}", who is not a custodian (custodians: ${custodians.join(', ')})`);
    if (out.has(name)) throw new CustodyError('invalid-request', `--passphrase-file gives custodian ${name} twice`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new CustodyError('invalid-request', `cannot read the passphrase file of ${name}: ${(e as Error).message}`);
    }
    const line = text.split(/\r?\n/)[0] ?? '';
    if (!line) throw new CustodyError('invalid-request', `the passphrase file of ${name} (${file}) is empty`);
    out.set(name, new Uint8Array(Buffer.from(line, 'utf8')));
  }
  return out;
}

export function wipeAll(m: Map<string, Uint8Array>): void {
  for (const v of m.values()) v.fill(0);
  m.clear();
}
