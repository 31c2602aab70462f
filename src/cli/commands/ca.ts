/**
 * `rampart ca`: the CA certificates of this node, and the intermediate's life:
 * `ca request` (new key here, CSR out), `ca import` (the signed bundle in,
 * made the active issuer), `ca rotate` (the same with the node's own online
 * root) and `ca import-crl` (publish a CRL the offline root produced).
 * See docs/runbooks/offline-root.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseCaBundle } from '../../ca/ca-bundle.js';
import { verifyExternalCrl } from '../../ca/external-crl.js';
import { listPendingIntermediates, removePendingIntermediate, requestIntermediate } from '../../ca/pending-intermediates.js';
import { IssuerRetirement } from '../../ca/retirement.js';
import { nextIntermediateSubject, signRotatedIntermediate } from '../../ca/rotation.js';
import type { IntermediateImportPlan } from '../../ca/intermediate-import.js';
import { alg, days } from '../option-parsers.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../keys/key-backend.js';
import type { RampartNode } from '../../main/node.js';
import { fromPem, toPem } from '../../pki/certificate-builder.js';
import { parseDn } from '../../pki/names.js';
import { cliActor, out, withNode, type GlobalOptions } from '../context.js';


/** Runs an operator action, recording a failure in the audit log before the error reaches the operator. */
async function audited<T>(node: RampartNode, action: string, target: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const a = cliActor();
    await node.audit.record({ actor: a.id, source: a.source, channel: a.channel, action, target, outcome: 'failure', details: { error: (e as Error).message } })
      .catch(() => undefined);
    throw e;
  }
}

/** Intermediate subjects in use or requested: a new one must differ. */
async function takenSubjects(node: RampartNode): Promise<string[]> {
  return [...node.ca.cas().filter((c) => c.kind === 'intermediate').map((c) => c.subject), ...(await listPendingIntermediates(node.store)).map((p) => p.subject)];
}

function importView(node: RampartNode, plan: IntermediateImportPlan, adminToken: string | null) {
  const i = plan.intermediate;
  return {
    intermediate: { id: i.id, subject: i.subject, notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(), active: true },
    root: { id: plan.root.id, subject: plan.root.subject, keyOnline: plan.root.keyBackend !== 'offline', created: plan.rootIsNew },
    previous: plan.previous ? { id: plan.previous.id, subject: plan.previous.subject, notAfter: plan.previous.notAfter.toISOString() } : null,
    rootCrl: plan.rootCrl ? { number: plan.rootCrl.number.toString(), nextUpdate: plan.rootCrl.nextUpdate.toISOString(), url: node.urls.crl(plan.root.id) } : null,
    notes: [...plan.notes, 'a running single node switches issuance when restarted; cluster nodes pick it up within 30 s'],
    ...(adminToken ? { adminToken } : {}),
  };
}

function importHuman(v: ReturnType<typeof importView>): string {
  return [
    `Active issuing CA: ${v.intermediate.subject} (${v.intermediate.id}), until ${v.intermediate.notAfter}`,
    `  root:     ${v.root.subject} (${v.root.id})${v.root.keyOnline ? '' : ', key offline'}${v.root.created ? ', new on this node' : ''}`,
    v.previous ? `  previous: ${v.previous.id} stays, inactive, serving OCSP and CRLs until its certificates expire (${v.previous.notAfter} at the latest)` : '',
    v.rootCrl ? `  root CRL #${v.rootCrl.number} published at ${v.rootCrl.url}, next update ${v.rootCrl.nextUpdate}` : '',
    ...v.notes.map((n) => `  note: ${n}`),
    v.adminToken ? `Admin API token (shown once, stored hashed):\n  ${v.adminToken}` : '',
  ].filter((l) => l).join('\n');
}

export function registerCa(program: Command, g: () => GlobalOptions): void {
  const ca = program.command('ca')
    .description('the CA certificates of this node (root, issuing CAs, OCSP signers); request, import and rotate intermediates')
    .option('--pem', 'print the certificates as PEM (root first)')
    .option('--root', 'only the root')
    .action(async (o: { pem?: boolean; root?: boolean }) => {
      await withNode(g(), async (node) => {
        const order = { root: 0, intermediate: 1, 'ocsp-signer': 2 } as const;
        const list = node.ca.all().filter((i) => !o.root || i.kind === 'root').sort((a, b) => order[a.kind] - order[b.kind]);
        if (o.pem) { process.stdout.write(list.filter((i) => o.root || i.kind !== 'ocsp-signer').map((i) => toPem(i.certDer)).join('')); return; }
        const retirement = new IssuerRetirement({ store: node.store, clock: node.clock });
        const view: Array<{ id: string; kind: string; subject: string; parentId: string | null; active: boolean; state: string; keyOnline: boolean; notBefore: string; notAfter: string }> = [];
        for (const i of list) {
          view.push({
            id: i.id, kind: i.kind, subject: i.subject, parentId: i.parentId, active: i.active,
            state: i.kind !== 'ocsp-signer' || i.notAfter <= node.clock.now() ? await retirement.state(i) : node.ca.ocspSignerOf(i.parentId!)?.id === i.id ? 'active' : 'superseded',
            keyOnline: await node.ca.hasKey(i), notBefore: i.notBefore.toISOString(), notAfter: i.notAfter.toISOString(),
          });
        }
        const pending = (await listPendingIntermediates(node.store)).map((p) => ({ subject: p.subject, algorithm: p.algorithm, keyRef: p.keyRef, spkiSha256: p.spkiSha256, createdAt: p.createdAt }));
        out(g(), { issuers: view, pending }, () => [
          ...view.map((v) => `${v.id.padEnd(28)} ${v.kind.padEnd(12)} ${v.state.padEnd(8)} until ${v.notAfter}  ${v.subject}${v.keyOnline ? '' : '  (key offline)'}`),
          ...pending.map((p) => `pending request ${p.keyRef}: ${p.subject} (${p.algorithm}), requested ${p.createdAt}, SPKI SHA-256 ${p.spkiSha256}`),
        ].join('\n'));
      });
    });

  ca.command('request')
    .description('generate a new intermediate CA key in this node\'s key backend and write its CSR, to be signed by an offline root (`rampart root sign`)')
    .requiredOption('--subject <dn>', 'subject DN of the new intermediate, e.g. "CN=Example Issuing CA 2, O=Example"')
    .option('--algorithm <alg>', `key algorithm (${KEY_ALGORITHMS.join(', ')}; default hierarchy.intermediate.algorithm)`, alg)
    .option('--out <file>', 'write the CSR (PEM) here instead of to standard output')
    .action(async (o: { subject: string; algorithm?: KeyAlgorithm; out?: string }) => {
      await withNode(g(), async (node) => {
        const a = cliActor();
        const p = await audited(node, 'ca.request', `subject:${o.subject}`, async () => {
          parseDn(o.subject);
          const root = node.ca.root();
          if (root && await node.ca.hasKey(root)) {
            throw new Error(`this node's root ${root.id} has its key on the node: rotate with \`rampart ca rotate\` (an intermediate signed by another root could not be imported here)`);
          }
          if ((await takenSubjects(node)).includes(o.subject)) throw new Error(`an intermediate named "${o.subject}" exists or is already requested: give the new one its own name`);
          return requestIntermediate({ keys: node.keys, store: node.store, clock: node.clock, subject: o.subject, algorithm: o.algorithm ?? node.config.hierarchy.intermediate.algorithm });
        });
        await node.audit.record({
          actor: a.id, source: a.source, channel: a.channel, action: 'ca.request', target: `key:${p.keyRef}`, outcome: 'success',
          details: { subject: p.subject, algorithm: p.algorithm, spkiSha256: p.spkiSha256 },
        });
        if (o.out) writeFileSync(o.out, p.csrPem);
        const view = { keyRef: p.keyRef, subject: p.subject, algorithm: p.algorithm, spkiSha256: p.spkiSha256, csr: o.out ?? null, ...(o.out ? {} : { csrPem: p.csrPem }) };
        if (!o.out && !g().json) { process.stdout.write(p.csrPem); return; }
        out(g(), view, () => [
          `Intermediate key ${p.keyRef} (${p.algorithm}) generated; CSR for "${p.subject}" written to ${o.out}`,
          `  SPKI SHA-256 ${p.spkiSha256} (compare on the offline host)`,
          '  next: `rampart root sign --dir OFFLINE_DIR --csr FILE --out BUNDLE`, then `rampart ca import --bundle BUNDLE` here',
        ].join('\n'));
      }, { createSecret: true });
    });

  ca.command('cancel-request <keyRef>')
    .description('drop a pending intermediate request (the certificate for it can no longer be imported; the unused key stays in the backend)')
    .action(async (keyRef: string) => {
      await withNode(g(), async (node) => {
        const a = cliActor();
        const p = (await listPendingIntermediates(node.store)).find((x) => x.keyRef === keyRef);
        await node.audit.record({ actor: a.id, source: a.source, channel: a.channel, action: 'ca.request.cancel', target: `key:${keyRef}`, outcome: p ? 'success' : 'failure', details: p ? { subject: p.subject } : { error: 'no such pending request' } });
        if (!p) throw new Error(`no pending request with key ${keyRef} (see \`rampart ca\`)`);
        await removePendingIntermediate(node.store, keyRef);
        out(g(), { keyRef, subject: p.subject, cancelled: true }, () => `Pending request ${keyRef} (${p.subject}) cancelled`);
      });
    });

  ca.command('import')
    .description('verify a signed intermediate bundle (`rampart root sign`) and make it the active issuing CA; on a fresh data directory this creates the hierarchy, without the root key')
    .requiredOption('--bundle <file>', 'PEM bundle: intermediate certificate, root certificate, optional root CRL')
    .action(async (o: { bundle: string }) => {
      await withNode(g(), async (node) => {
        const bundle = await audited(node, 'ca.import', 'issuer:intermediate', async () => parseCaBundle(readFileSync(o.bundle, 'utf8')));
        const plan = await node.issuers.importIntermediate(bundle, cliActor(), 'ca.import');
        let adminToken: string | null = null;
        if (plan.rootIsNew && !(await node.store.getMeta('bootstrap.done'))) {
          // First hierarchy on this data directory, as `rampart init` would: the first admin token.
          const a = cliActor();
          const t = await node.tokens.create('initial-admin', 'admin');
          await node.audit.record({ actor: a.id, source: a.source, channel: a.channel, action: 'token.create', target: `token:${t.record.id}`, outcome: 'success', details: { role: 'admin', reason: 'first hierarchy (ca import)' } });
          await node.store.setMeta('bootstrap.done', new Date().toISOString());
          adminToken = t.token;
        }
        const view = importView(node, plan, adminToken);
        out(g(), view, () => importHuman(view));
      });
    });

  ca.command('rotate')
    .description('issue a new intermediate from this node\'s online root and make it the active issuing CA; the old one keeps serving OCSP and CRLs')
    .option('--subject <dn>', 'subject DN of the new intermediate (default: the current one with its number increased)')
    .option('--algorithm <alg>', 'key algorithm (default: the current intermediate\'s)', alg)
    .option('--days <n>', 'validity in days (default hierarchy.intermediate.validityDays)', days)
    .action(async (o: { subject?: string; algorithm?: KeyAlgorithm; days?: number }) => {
      await withNode(g(), async (node) => {
        const bundle = await audited(node, 'ca.rotate', 'issuer:intermediate', async () => {
          const current = node.ca.active();
          const taken = await takenSubjects(node);
          const subject = o.subject ?? nextIntermediateSubject(current.subject, taken);
          if (taken.includes(subject)) throw new Error(`an intermediate named "${subject}" exists or is requested: give the new one its own name (--subject)`);
          const algorithm = o.algorithm ?? (await node.ca.signerFor(current)).algorithm;
          return signRotatedIntermediate({
            ca: node.ca, keys: node.keys, store: node.store, clock: node.clock, urls: node.urls, subject, algorithm,
            validityDays: o.days ?? node.config.hierarchy.intermediate.validityDays,
            ekus: node.config.hierarchy.intermediate.ekus, policies: node.config.hierarchy.intermediate.policies,
          });
        });
        const plan = await node.issuers.importIntermediate(bundle, cliActor(), 'ca.rotate');
        const view = importView(node, plan, null);
        out(g(), view, () => importHuman(view));
      });
    });

  ca.command('import-crl')
    .description('publish a CRL produced elsewhere for a CA whose key is not on this node (the offline root: `rampart root crl`)')
    .requiredOption('--crl <file>', 'the CRL, DER or PEM')
    .action(async (o: { crl: string }) => {
      await withNode(g(), async (node) => {
        const a = cliActor();
        const rec = await audited(node, 'crl.import', 'issuer:?', async () => {
          const raw = readFileSync(o.crl);
          const der = raw.toString('latin1').trimStart().startsWith('-----BEGIN ') ? fromPem(raw.toString('utf8'))[0] : new Uint8Array(raw);
          if (!der) throw new Error(`${o.crl} holds no PEM block`);
          const offline = [];
          for (const c of node.ca.cas()) if (!(await node.ca.hasKey(c))) offline.push(c);
          if (!offline.length) throw new Error('every CA of this node has its key here and produces its own CRLs: nothing to import');
          const errors: string[] = [];
          for (const c of offline) {
            try {
              const r = await verifyExternalCrl(der, c, await node.store.latestCrl(c.id), node.clock.now());
              await node.store.saveCrl(r);
              return r;
            } catch (e) {
              errors.push(`${c.id}: ${(e as Error).message}`);
            }
          }
          throw new Error(`the CRL was not accepted: ${errors.join('; ')}`);
        });
        await node.audit.record({
          actor: a.id, source: a.source, channel: a.channel, action: 'crl.import', target: `issuer:${rec.issuerId}`, outcome: 'success',
          details: { number: rec.number.toString(), entries: rec.entries, nextUpdate: rec.nextUpdate.toISOString() },
        });
        const view = { issuerId: rec.issuerId, number: rec.number.toString(), entries: rec.entries, thisUpdate: rec.thisUpdate.toISOString(), nextUpdate: rec.nextUpdate.toISOString(), url: node.urls.crl(rec.issuerId) };
        out(g(), view, () => `${view.issuerId}: CRL #${view.number} (${view.entries} entries) published at ${view.url}, next update ${view.nextUpdate}`);
      });
    });
}
