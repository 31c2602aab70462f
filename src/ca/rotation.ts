/**
 * Intermediate rotation on a node whose root key is online: a new
 * intermediate key is requested like `rampart ca request` does, signed here
 * by the root, and handed to the same import path as an offline-signed
 * bundle. The new CA's validity starts now, so it overlaps the old one, which
 * stays (inactive) to answer OCSP and publish CRLs for what it issued.
 */
import { ANY_POLICY, DEFAULT_ISSUING_EKUS, subordinateCaProfile } from './ca-profiles.js';
import type { Clock } from '../core/clock.js';
import type { KeyAlgorithm, KeyBackend } from '../keys/key-backend.js';
import { parseDn } from '../pki/names.js';
import type { MetaStore } from '../storage/store.js';
import type { CaBundle } from './ca-bundle.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { requestIntermediate } from './pending-intermediates.js';
import { signSubordinateCa } from './subordinate-ca.js';
import type { CaUrls } from './urls.js';

const DAY = 86_400_000;

export interface RotateOptions {
  ca: CertificateAuthority;
  keys: KeyBackend;
  store: MetaStore;
  clock: Clock;
  urls: CaUrls;
  subject: string;
  algorithm: KeyAlgorithm;
  validityDays: number;
  /** EKUs and certificatePolicies of the new issuing CA (hierarchy.intermediate). */
  ekus?: readonly string[];
  policies?: readonly string[];
}

export async function signRotatedIntermediate(o: RotateOptions): Promise<CaBundle> {
  const root = o.ca.root();
  if (!root) throw new Error('no root CA on this node: run `rampart init` (or import an offline-signed intermediate with `rampart ca import`)');
  if (!(await o.ca.hasKey(root))) {
    throw new Error(`the root ${root.id} keeps its key offline: request the new intermediate with \`rampart ca request\`, `
      + 'sign it with `rampart root sign` on the offline host and import it with `rampart ca import`');
  }
  parseDn(o.subject);
  const now = o.clock.now();
  const notBefore = new Date(Math.floor((now.getTime() - 60_000) / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + o.validityDays * DAY);
  if (notAfter > root.notAfter) {
    throw new Error(`an intermediate valid for ${o.validityDays} days would outlive the root (until ${root.notAfter.toISOString()}): choose fewer days`);
  }
  const pending = await requestIntermediate({ keys: o.keys, store: o.store, clock: o.clock, subject: o.subject, algorithm: o.algorithm });
  const signed = await signSubordinateCa({
    issuerCertDer: root.certDer, issuerSigner: await o.ca.signerFor(root), subject: parseDn(o.subject),
    spki: new Uint8Array(Buffer.from(pending.spki, 'base64')), notBefore, notAfter, pathLen: 0,
    // The same URLs and key usage as the intermediate `rampart init` creates.
    keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'],
    profile: subordinateCaProfile({ ekus: [...(o.ekus ?? DEFAULT_ISSUING_EKUS)], policies: [...(o.policies ?? [ANY_POLICY])] }),
    urls: { ocsp: o.urls.ocsp(), caIssuers: o.urls.caCert(root.id), crl: o.urls.crl(root.id) },
  });
  return { intermediateDer: signed.der, rootDer: root.certDer };
}

/** A subject for the next intermediate: the CN's trailing number plus one ("Issuing CA 1" → "Issuing CA 2"), else " 2" appended; skips names taken. */
export function nextIntermediateSubject(current: string, taken: string[]): string {
  const bump = (dn: string): string => {
    const m = /(^|,\s*)CN=([^,]*)/.exec(dn);
    if (!m) return `CN=Issuing CA 2, ${dn}`;
    const cn = m[2]!.trimEnd();
    const n = /^(.*?)(\d+)$/.exec(cn);
    const next = n ? `${n[1]}${Number(n[2]) + 1}` : `${cn} 2`;
    const at = m.index + m[1]!.length;
    return `${dn.slice(0, at)}CN=${next}${dn.slice(at + 3 + m[2]!.length)}`;
  };
  let s = bump(current);
  for (let i = 0; i < 100 && taken.includes(s); i++) s = bump(s);
  return s;
}
