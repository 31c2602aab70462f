/**
 * The CA certificates a node publishes as /ca/bundle.pem (and in the
 * validation mirror): the current root's hierarchy first (after `rampart pki
 * rebuild`, the new one), then the other CAs (the old hierarchy, still
 * trusted while a re-issuance campaign runs); without the retired ones (the
 * old hierarchy of every finished campaign — a lost root's, a compromised
 * intermediate: it is revoked, nothing it issued is valid any more, trust
 * stores drop it).
 */
import type { IssuerRecord } from '../core/types.js';
import type { CertificateAuthority } from './certificate-authority.js';

export function publishedCas(ca: Pick<CertificateAuthority, 'cas' | 'root'>, retired: ReadonlySet<string> = new Set()): IssuerRecord[] {
  const root = ca.root()?.id;
  const cas = ca.cas().filter((c) => !retired.has(c.id));
  const current = (c: IssuerRecord) => c.id === root || (!!root && c.parentId === root);
  return [...cas.filter(current), ...cas.filter((c) => !current(c))];
}
