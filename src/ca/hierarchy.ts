/**
 * Creates a CA hierarchy: a self-signed root and an issuing intermediate under
 * it. Used by `rampart init` (custom names, algorithms, validity) and by the
 * first run of `rampart serve` (a dev hierarchy from defaults).
 */
import { randomSerial } from '../core/serial.js';
import type { Clock } from '../core/clock.js';
import type { IssuerRecord } from '../core/types.js';
import type { KeyAlgorithm, KeyBackend } from '../keys/key-backend.js';
import { buildCertificate } from '../pki/certificate-builder.js';
import { parseDn } from '../pki/names.js';
import type { IssuerStore } from '../storage/store.js';
import { ROOT_PROFILE, subordinateCaProfile } from './ca-profiles.js';
import { issuerId } from './issuer-id.js';
import { certificatePreflight } from './lint-gate.js';
import type { CaUrls } from './urls.js';

export interface CaSpec {
  subject: string;
  algorithm: KeyAlgorithm;
  validityDays: number;
}

export interface HierarchySpec {
  root: CaSpec;
  /** ekus: what the issuing CA may issue for (names such as serverAuth, or OIDs); policies: its certificatePolicies. */
  intermediate: CaSpec & { ekus?: readonly string[]; policies?: readonly string[] };
}

export interface CreateHierarchyOptions {
  spec: HierarchySpec;
  keys: KeyBackend;
  store: IssuerStore;
  clock: Clock;
  urls: CaUrls;
}

const DAY = 86_400_000;

export async function createHierarchy(o: CreateHierarchyOptions): Promise<{ root: IssuerRecord; intermediate: IssuerRecord }> {
  const { spec, keys, store, clock, urls } = o;
  if (spec.intermediate.validityDays > spec.root.validityDays) {
    throw new Error('the intermediate cannot outlive the root: intermediate validityDays must not exceed root validityDays');
  }
  // Backdate a minute so that freshly issued certificates validate on hosts whose clocks lag slightly.
  const now = new Date(clock.now().getTime() - 60_000);
  const rootName = parseDn(spec.root.subject);
  const intName = parseDn(spec.intermediate.subject);
  const rootKey = await keys.generate('root', spec.root.algorithm);
  const rootAfter = new Date(now.getTime() + spec.root.validityDays * DAY);
  const rootDer = await buildCertificate({
    serial: randomSerial(), subject: rootName, subjectSpki: rootKey.spki, notBefore: now, notAfter: rootAfter,
    ca: {}, keyUsage: ROOT_PROFILE.keyUsage,
  }, rootKey, certificatePreflight('root-ca'));
  const root: IssuerRecord = {
    id: issuerId('root', rootKey.spki, now), kind: 'root', subject: spec.root.subject, parentId: null, certDer: rootDer,
    keyRef: rootKey.keyRef, keyBackend: keys.type, notBefore: now, notAfter: rootAfter, active: false, createdAt: clock.now(),
  };
  const intKey = await keys.generate('intermediate', spec.intermediate.algorithm);
  const intAfter = new Date(now.getTime() + spec.intermediate.validityDays * DAY);
  const p = subordinateCaProfile({ ekus: [...(spec.intermediate.ekus ?? [])], policies: [...(spec.intermediate.policies ?? [])] });
  const intDer = await buildCertificate({
    serial: randomSerial(), subject: intName, subjectSpki: intKey.spki, notBefore: now, notAfter: intAfter,
    issuer: { name: rootName, spki: rootKey.spki }, ca: { pathLen: p.pathLen }, keyUsage: p.keyUsage, extKeyUsage: p.extKeyUsage, policies: p.policies,
    ocspUrls: [urls.ocsp()], caIssuersUrls: [urls.caCert(root.id)], crlUrls: [urls.crl(root.id)],
  }, rootKey, certificatePreflight('subordinate-ca'));
  const intermediate: IssuerRecord = {
    id: issuerId('int', intKey.spki, now), kind: 'intermediate', subject: spec.intermediate.subject, parentId: root.id,
    certDer: intDer, keyRef: intKey.keyRef, keyBackend: keys.type, notBefore: now, notAfter: intAfter, active: true, createdAt: clock.now(),
  };
  await store.saveIssuer(root);
  await store.saveIssuer(intermediate);
  return { root, intermediate };
}
