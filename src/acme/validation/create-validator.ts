/**
 * The ChallengeValidator used by the ACME order logic: dispatches on the
 * challenge type to the http-01, dns-01 and tls-alpn-01 validators. Whatever
 * goes wrong ends as an AcmeError of type connection, dns, incorrectResponse,
 * tls, unauthorized or malformed.
 */
import { AcmeError } from '../problems.js';
import type { ChallengeType } from '../../storage/acme-records.js';
import type { ChallengeValidator, ValidationInput, ValidationSettings } from './validator.js';
import { validateHttp01 } from './http-01.js';
import { validateDns01 } from './dns-01.js';
import { validateTlsAlpn01 } from './tls-alpn-01.js';

const VALIDATION_ERRORS = new Set(['connection', 'dns', 'incorrectResponse', 'tls', 'unauthorized', 'malformed']);

export function createValidator(settings: ValidationSettings): ChallengeValidator {
  return {
    async validate(type: ChallengeType, input: ValidationInput): Promise<void> {
      try {
        switch (type) {
          case 'http-01': return await validateHttp01(input, settings);
          case 'dns-01': return await validateDns01(input, settings);
          case 'tls-alpn-01': return await validateTlsAlpn01(input, settings);
          default: throw new AcmeError('malformed', `unsupported challenge type "${String(type)}"`);
        }
      } catch (e) {
        if (e instanceof AcmeError && VALIDATION_ERRORS.has(e.type)) throw e;
        const detail = e instanceof AcmeError ? e.message : e instanceof Error ? e.message : String(e);
        throw new AcmeError('connection', `${type} validation of ${input.identifier.value} failed: ${detail}`);
      }
    },
  };
}
