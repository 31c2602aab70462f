/**
 * dns-01 (RFC 8555 §8.4): look up the TXT records at
 * _acme-challenge.{identifier} and look for base64url(SHA-256(keyAuthorization)).
 * Uses its own node:dns Resolver (fresh per validation, so nothing is cached
 * between attempts) pointed at the configured resolvers when there are any.
 * Not allowed for IP identifiers (RFC 8738 §7).
 */
import { Resolver } from 'node:dns';
import { AcmeError } from '../problems.js';
import type { ValidationInput, ValidationSettings } from './validator.js';
import { checkIdentifier, quoteSnippet } from './target.js';
import { keyAuthorizationDigest } from './key-authorization.js';

const NO_RECORD = new Set(['ENOTFOUND', 'ENODATA']);

export async function validateDns01(input: ValidationInput, settings: ValidationSettings): Promise<void> {
  if (input.identifier.type === 'ip') {
    throw new AcmeError('malformed', 'dns-01 challenges cannot be used for IP address identifiers');
  }
  const domain = checkIdentifier(input.identifier);
  const name = `_acme-challenge.${domain}`;
  const expected = keyAuthorizationDigest(input.keyAuthorization);
  const records = await lookupTxt(name, settings);
  if (records.length === 0) throw new AcmeError('unauthorized', `No TXT record found at ${name}`);
  if (records.includes(expected)) return;
  const shown = records.slice(0, 3).map((r) => quoteSnippet(r)).join(', ');
  const more = records.length > 3 ? ` (and ${records.length - 3} more)` : '';
  throw new AcmeError('incorrectResponse', `Incorrect TXT record ${shown}${more} found at ${name}`);
}

/** The TXT records at name, each with its character-strings joined; [] for NXDOMAIN or no records. */
async function lookupTxt(name: string, settings: ValidationSettings): Promise<string[]> {
  const totalMs = Math.max(1, settings.timeoutSeconds * 1000);
  const resolver = new Resolver({ timeout: Math.max(200, Math.floor(totalMs / 3)), tries: 2 });
  if (settings.dnsResolvers.length > 0) {
    try {
      resolver.setServers(settings.dnsResolvers);
    } catch (e) {
      throw new AcmeError('dns', `Invalid DNS resolver configuration ${JSON.stringify(settings.dnsResolvers)}: ${(e as Error).message}`);
    }
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await new Promise<string[][]>((resolve, reject) => {
      timer = setTimeout(() => {
        resolver.cancel();
        reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' }));
      }, totalMs);
      resolver.resolveTxt(name, (err, records) => (err ? reject(err) : resolve(records)));
    });
    return answer.map((chunks) => chunks.join(''));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (NO_RECORD.has(code)) return [];
    if (code === 'ETIMEOUT' || code === 'ECANCELLED') {
      throw new AcmeError('dns', `DNS query for TXT ${name} timed out after ${settings.timeoutSeconds}s`);
    }
    throw new AcmeError('dns', `DNS query for TXT ${name} failed: ${code || (e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
