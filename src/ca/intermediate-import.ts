import 'reflect-metadata';
/**
 * Taking an intermediate CA certificate into service on a node (`rampart ca
 * import`, and `rampart ca rotate` after it signs with an online root).
 * planIntermediateImport checks everything and builds the records without
 * writing; applyIntermediateImport stores them. The certificate must be for
 * a key this node requested (a pending request), be a CA certificate signed
 * by the root in the bundle, and that root must be this node's root, or, on a
 * fresh data directory, becomes it, without its key (an offline root).
 */
import { createHash } from 'node:crypto';
import { Name } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraintsExtension, CRLDistributionPointsExtension, KeyUsageFlags, KeyUsagesExtension, X509Certificate } from '@peculiar/x509';
import type { CrlRecord, IssuerRecord } from '../core/types.js';
import type { KeyBackend } from '../keys/key-backend.js';
import { toArrayBuffer } from '../pki/certificate-builder.js';
import { dnToString } from '../pki/names.js';
import type { CrlStore, IssuerStore, MetaStore } from '../storage/store.js';
import type { CaBundle } from './ca-bundle.js';
import type { CertificateAuthority } from './certificate-authority.js';
import { verifyExternalCrl } from './external-crl.js';
import { issuerIdOfCertificate } from './issuer-id.js';
import { OFFLINE_KEY_BACKEND, offlineKeyRef } from './offline-issuer.js';
import type { CaUrls } from './urls.js';
import { findPendingForSpki, removePendingIntermediate, type PendingIntermediate } from './pending-intermediates.js';

export interface IntermediateImportPlan {
  root: IssuerRecord;
  /** The root is new to this node (first import on a fresh data directory). */
  rootIsNew: boolean;
  intermediate: IssuerRecord;
  /** The intermediate that was active until now; it keeps serving OCSP and CRLs. */
  previous: IssuerRecord | null;
  pending: PendingIntermediate;
  /** The root CRL from the bundle, when it is newer than the published one. */
  rootCrl: CrlRecord | null;
  notes: string[];
}

export interface PlanImportOptions {
  bundle: CaBundle;
  ca: CertificateAuthority;
  keys: KeyBackend;
  pending: PendingIntermediate[];
  latestCrl: (issuerId: string) => Promise<CrlRecord | null>;
  /** Where this node publishes: a CRL distribution point elsewhere gets a note. */
  urls?: CaUrls;
  now: Date;
  /** The bundle brings a new root that replaces this node's (`rampart pki rebuild` after a root loss). */
  newRoot?: boolean;
}

const sha256 = (b: Uint8Array | ArrayBuffer): string => createHash('sha256').update(new Uint8Array(b)).digest('hex');
const nameString = (x: X509Certificate): string => dnToString(AsnConvert.parse(x.subjectName.toArrayBuffer(), Name));
const sameBytes = (a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array): boolean => Buffer.from(new Uint8Array(a)).equals(Buffer.from(new Uint8Array(b)));

function parse(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(toArrayBuffer(der));
  } catch (e) {
    throw new Error(`the ${what} certificate cannot be parsed: ${(e as Error).message}`);
  }
}

export async function planIntermediateImport(o: PlanImportOptions): Promise<IntermediateImportPlan> {
  const { now } = o;
  const notes: string[] = [];
  const rootX = parse(o.bundle.rootDer, 'root');
  const intX = parse(o.bundle.intermediateDer, 'intermediate');

  // The root: a CA, current, and this node's root if it has one.
  if (!rootX.getExtension(BasicConstraintsExtension)?.ca) throw new Error('the root certificate is not a CA certificate (basicConstraints cA is not set)');
  if (rootX.notAfter <= now) throw new Error(`the root certificate expired at ${rootX.notAfter.toISOString()}`);
  if (o.newRoot && o.ca.all().some((i) => sameBytes(i.certDer, o.bundle.rootDer))) {
    throw new Error('the bundle\'s root is already known to this node: a rebuild needs a new root (`rampart root init` in a new directory)');
  }
  const existing = o.newRoot ? undefined : o.ca.root();
  if (existing && !sameBytes(existing.certDer, o.bundle.rootDer)) {
    throw new Error(`the bundle's root "${nameString(rootX)}" (SHA-256 ${sha256(o.bundle.rootDer)}) is not this node's root "${existing.subject}" `
      + `(SHA-256 ${sha256(existing.certDer)}): a node has exactly one root, and every certificate it issued chains to it; `
      + 'an intermediate for another root needs a new data directory');
  }

  // The intermediate: signed by that root, a CA, inside the root's validity.
  if (!sameBytes(intX.issuerName.toArrayBuffer(), rootX.subjectName.toArrayBuffer())) {
    throw new Error(`the intermediate's issuer "${intX.issuer}" is not the root's subject "${rootX.subject}"`);
  }
  if (!(await intX.verify({ publicKey: rootX, signatureOnly: true }))) throw new Error('the intermediate certificate is not signed by the root in the bundle');
  const bc = intX.getExtension(BasicConstraintsExtension);
  if (!bc?.ca) throw new Error('the intermediate certificate is not a CA certificate (basicConstraints cA is not set)');
  const ku = intX.getExtension(KeyUsagesExtension);
  if (ku && !(ku.usages & KeyUsageFlags.keyCertSign)) throw new Error('the intermediate certificate\'s keyUsage lacks keyCertSign');
  if (ku && !(ku.usages & KeyUsageFlags.cRLSign)) throw new Error('the intermediate certificate\'s keyUsage lacks cRLSign: it could not sign its CRLs');
  if (intX.notAfter <= now) throw new Error(`the intermediate certificate expired at ${intX.notAfter.toISOString()}`);
  if (intX.notBefore.getTime() > now.getTime() + 3_600_000) {
    throw new Error(`the intermediate certificate is not valid before ${intX.notBefore.toISOString()}: check the signing host's clock`);
  }
  if (intX.notAfter > rootX.notAfter) throw new Error(`the intermediate (until ${intX.notAfter.toISOString()}) outlives its root (until ${rootX.notAfter.toISOString()})`);
  if (bc.pathLength !== undefined && bc.pathLength > 0) notes.push(`the intermediate allows ${bc.pathLength} further CA level(s) below it (pathLen); Rampart issues only end-entity certificates from it`);

  // Its key: one this node generated and is waiting for.
  const spki = new Uint8Array(intX.publicKey.rawData);
  const pending = findPendingForSpki(o.pending, spki);
  if (!pending) {
    throw new Error(`no pending request on this node for the intermediate's key (SPKI SHA-256 ${sha256(spki)}): `
      + 'sign the CSR that `rampart ca request` wrote on this node (see `rampart ca` for pending requests)');
  }
  if (!(await o.keys.has(pending.keyRef))) throw new Error(`the key ${pending.keyRef} of the pending request is missing from the ${o.keys.type} key backend`);
  const signer = await o.keys.open(pending.keyRef);
  if (!sameBytes(signer.spki, spki)) throw new Error(`the key ${pending.keyRef} in the key backend does not match the certificate's public key`);

  const intId = issuerIdOfCertificate('int', o.bundle.intermediateDer);
  if (o.ca.get(intId) || o.ca.all().some((i) => sameBytes(i.certDer, o.bundle.intermediateDer))) throw new Error(`this intermediate is already imported (${intId})`);
  const subject = nameString(intX);
  const clash = o.ca.cas().find((c) => c.kind === 'intermediate' && c.subject === subject);
  if (clash) {
    throw new Error(`intermediate ${clash.id} already has the subject "${subject}": give each intermediate its own name `
      + '(relying parties pick CRLs and chain candidates by name)');
  }

  const root: IssuerRecord = existing ?? {
    id: issuerIdOfCertificate('root', o.bundle.rootDer), kind: 'root', subject: nameString(rootX), parentId: null,
    certDer: o.bundle.rootDer, keyRef: offlineKeyRef(o.bundle.rootDer), keyBackend: OFFLINE_KEY_BACKEND,
    notBefore: rootX.notBefore, notAfter: rootX.notAfter, active: false, createdAt: now,
  };
  const intermediate: IssuerRecord = {
    id: intId, kind: 'intermediate', subject, parentId: root.id, certDer: o.bundle.intermediateDer,
    keyRef: pending.keyRef, keyBackend: pending.keyBackend, notBefore: intX.notBefore, notAfter: intX.notAfter, active: true, createdAt: now,
  };
  const cdp = (intX.getExtension(CRLDistributionPointsExtension)?.distributionPoints ?? [])
    .flatMap((d) => d.distributionPoint?.fullName ?? []).map((n) => n.uniformResourceIdentifier).filter((u): u is string => !!u);
  if (o.urls && cdp.length && !cdp.includes(o.urls.crl(root.id))) {
    notes.push(`the intermediate's CRL distribution point ${cdp.join(', ')} is not where this node publishes the root CRL (${o.urls.crl(root.id)}): check publicBaseUrl`);
  }
  const previous = o.ca.cas().find((c) => c.kind === 'intermediate' && c.active) ?? null;

  let rootCrl: CrlRecord | null = null;
  if (o.bundle.rootCrlDer) {
    const crl = await verifyExternalCrl(o.bundle.rootCrlDer, root, null, now);
    const latest = existing ? await o.latestCrl(root.id) : null;
    if (!latest || crl.number > latest.number) rootCrl = crl;
    else if (sameBytes(latest.der, crl.der)) notes.push(`the root CRL in the bundle (#${latest.number}) is already published`);
    else notes.push(`the root CRL in the bundle (#${crl.number}) is not newer than the published CRL #${latest.number}; kept the published one`);
  }
  return { root, rootIsNew: !existing, intermediate, previous, pending, rootCrl, notes };
}

/** Stores the plan: the root (when new), the intermediate as the active one, the root CRL; clears the pending request. */
export async function applyIntermediateImport(plan: IntermediateImportPlan, store: IssuerStore & CrlStore & MetaStore): Promise<void> {
  if (plan.rootIsNew) await store.saveIssuer(plan.root);
  // Saving an active intermediate deactivates the others in the same transaction.
  await store.saveIssuer(plan.intermediate);
  if (plan.rootCrl) await store.saveCrl(plan.rootCrl);
  await removePendingIntermediate(store, plan.pending.keyRef);
}
