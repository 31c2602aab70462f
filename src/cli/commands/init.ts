/** `rampart init`: create a custom CA hierarchy (names, algorithms, validity) and the first admin token. */
import type { Command } from 'commander';
import { alg, days } from '../option-parsers.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../keys/key-backend.js';
import { fingerprint } from '../../http/servers.js';
import { cliActor, out, withNode, type GlobalOptions } from '../context.js';
import { loadCliConfigDetailed, recordPublicBaseUrl } from './serve.js';


export function registerInit(program: Command, g: () => GlobalOptions): void {
  program.command('init')
    .description('create a CA hierarchy: root, issuing intermediate, OCSP signer; prints the first admin token')
    .option('--root-subject <dn>', 'root subject DN, e.g. "CN=Example Root CA, O=Example"')
    .option('--root-algorithm <alg>', `root key algorithm (${KEY_ALGORITHMS.join(', ')})`, alg)
    .option('--root-days <n>', 'root validity in days', days)
    .option('--intermediate-subject <dn>', 'issuing CA subject DN')
    .option('--intermediate-algorithm <alg>', 'issuing CA key algorithm', alg)
    .option('--intermediate-days <n>', 'issuing CA validity in days', days)
    .action(async (o: Record<string, string | number | undefined>) => {
      await withNode(g(), async (node) => {
        const h = node.config.hierarchy;
        const spec = {
          root: { subject: String(o.rootSubject ?? h.root.subject), algorithm: (o.rootAlgorithm ?? h.root.algorithm) as KeyAlgorithm, validityDays: Number(o.rootDays ?? h.root.validityDays) },
          intermediate: {
            subject: String(o.intermediateSubject ?? h.intermediate.subject), algorithm: (o.intermediateAlgorithm ?? h.intermediate.algorithm) as KeyAlgorithm,
            validityDays: Number(o.intermediateDays ?? h.intermediate.validityDays),
          },
        };
        await node.issuers.createHierarchy(spec, cliActor());
        // The intermediate carries the root's CRL and CA certificate URLs: fix publicBaseUrl for this data directory now.
        recordPublicBaseUrl(loadCliConfigDetailed(g()), 'init', { replaceWithExplicit: true });
        await node.crl.generateAll();
        const { token, record } = await node.tokens.create('initial-admin', 'admin');
        await node.audit.record({ actor: cliActor().id, source: 'local', channel: 'cli', action: 'token.create', target: `token:${record.id}`, outcome: 'success', details: { role: 'admin' } });
        await node.store.setMeta('bootstrap.done', new Date().toISOString());
        const root = node.ca.root()!;
        const active = node.ca.active();
        out(g(), { root: { id: root.id, subject: root.subject, fingerprintSha256: fingerprint(root.certDer) }, intermediate: { id: active.id, subject: active.subject }, adminToken: token }, () => [
          `Created CA hierarchy in ${node.paths.dataDir}`,
          `  root:         ${root.subject} (${root.id})`,
          `  fingerprint:  SHA256 ${fingerprint(root.certDer)}`,
          `  issuing CA:   ${active.subject} (${active.id})`,
          `Admin API token (shown once, stored hashed):`,
          `  ${token}`,
        ].join('\n'));
      }, { createSecret: true });
    });
}
