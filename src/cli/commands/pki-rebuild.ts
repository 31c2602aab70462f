/**
 * `rampart pki rebuild` and `rampart pki campaign`: the catastrophic path
 * (issue 20). rebuild makes the new hierarchy (root loss: new root and
 * intermediate; --intermediate-compromise: new intermediate under the same
 * root; --bundle: signed by an offline root), writes the new trust bundle
 * and starts the re-issuance campaign. campaign shows progress, exports the
 * work list (NDJSON or CSV), re-issues REST certificates from their stored
 * public key, and finishes (revokes the old hierarchy).
 */
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseCaBundle } from '../../ca/ca-bundle.js';
import { rebuildHierarchy } from '../../ca/rebuild/hierarchy-rebuild.js';
import { normalizeSerial } from '../../core/serial.js';
import type { RampartNode } from '../../main/node.js';
import { toPem } from '../../pki/certificate-builder.js';
import { workListHeader, workListLines, type WorkListFormat } from '../../ra/campaign/campaign-items.js';
import { progressHuman, progressView } from '../../ra/campaign/campaign-view.js';
import { alg, days } from '../option-parsers.js';
import type { KeyAlgorithm } from '../../keys/key-backend.js';
import { cliActor, out, withNode, withWritableNode, type GlobalOptions } from '../context.js';

function trustBundle(node: RampartNode, newIssuers: string[]): string {
  return node.ca.cas().filter((c) => newIssuers.includes(c.id) || c.id === node.ca.root()?.id).sort((a, b) => (a.kind === 'root' ? 0 : 1) - (b.kind === 'root' ? 0 : 1)).map((c) => toPem(c.certDer)).join('');
}

export function registerPkiRebuild(program: Command, g: () => GlobalOptions): void {
  const pki = program.command('pki').description('the whole PKI: rebuild after a root loss or an intermediate compromise, and the re-issuance campaign');

  pki.command('rebuild')
    .description('make a new hierarchy (new root and intermediate; with --intermediate-compromise a new intermediate under the same root), publish the new trust bundle and start the re-issuance campaign')
    .option('--intermediate-compromise', 'only the active intermediate is replaced (its root signs the new one)')
    .option('--bundle <file>', 'a bundle signed by an offline root (`rampart ca request` here, `rampart root sign` there)')
    .option('--root-subject <dn>', 'subject of the new root (default: the old one with its number increased)')
    .option('--subject <dn>', 'subject of the new intermediate (default: the current one with its number increased)')
    .option('--algorithm <alg>', 'key algorithm of the new CAs (default hierarchy.intermediate.algorithm)', alg)
    .option('--deadline-days <n>', 'revoke the old hierarchy this many days from now even if certificates are outstanding', days)
    .option('--trust-bundle-out <file>', 'write the new trust bundle (PEM: new root first) here')
    .action(async (o: { intermediateCompromise?: boolean; bundle?: string; rootSubject?: string; subject?: string; algorithm?: KeyAlgorithm; deadlineDays?: number; trustBundleOut?: string }) => {
      await withWritableNode(g(), async (node) => {
        const actor = cliActor();
        const h = node.config.hierarchy;
        const kind = o.intermediateCompromise ? 'intermediate-compromise' as const : 'root-loss' as const;
        const active = await node.campaigns.load();
        if (active) throw new Error(`campaign ${active.id} is still active: finish it first (rampart pki campaign finish)`);
        const r = await rebuildHierarchy({ ca: node.ca, keys: node.keys, store: node.store, clock: node.clock, urls: node.urls, lifecycle: node.issuers, ekus: h.intermediate.ekus, policies: h.intermediate.policies }, {
          kind, bundle: o.bundle ? await parseCaBundle(readFileSync(o.bundle, 'utf8')) : undefined, rootSubject: o.rootSubject, intermediateSubject: o.subject,
          algorithm: o.algorithm ?? h.intermediate.algorithm, rootDays: h.root.validityDays, intermediateDays: h.intermediate.validityDays,
          ekus: h.intermediate.ekus, policies: h.intermediate.policies,
        }, actor);
        const deadline = o.deadlineDays ? new Date(node.clock.now().getTime() + o.deadlineDays * 86_400_000) : null;
        const p = await node.campaigns.start({ kind, oldIssuers: r.oldIssuers, newIssuers: r.newIssuers, deadline, actor });
        const bundle = trustBundle(node, r.newIssuers);
        if (o.trustBundleOut) writeFileSync(o.trustBundleOut, bundle);
        const view = {
          root: { id: r.root.id, subject: r.root.subject }, intermediate: { id: r.intermediate.id, subject: r.intermediate.subject },
          trustBundle: o.trustBundleOut ?? `${node.config.publicBaseUrl}/ca/bundle.pem`, notes: r.notes, campaign: progressView(p),
        };
        out(g(), view, () => [
          `New hierarchy: root ${r.root.subject} (${r.root.id}), issuing CA ${r.intermediate.subject} (${r.intermediate.id})`,
          `Trust bundle: ${view.trustBundle}`,
          ...r.notes.map((n) => `note: ${n}`),
          progressHuman(view.campaign),
          'ACME clients are told to renew now through renewal information; export the REST work list with `rampart pki campaign export`.',
        ].join('\n'));
      });
    });

  const campaign = pki.command('campaign').description('the re-issuance campaign: progress, work list, re-issue, finish');

  campaign.command('status')
    .description('how many certificates are re-issued and how many are left')
    .option('--reconcile', 'first match every certificate the new issuers issued (on any node)')
    .action(async (o: { reconcile?: boolean }) => {
      await withNode(g(), async (node) => {
        if (o.reconcile) await node.campaigns.reconcile();
        const v = progressView(await node.campaigns.progress());
        out(g(), v, () => progressHuman(v));
      });
    });

  campaign.command('export')
    .description('the work list: every certificate of the campaign (or only the outstanding ones), NDJSON or CSV')
    .option('--format <f>', 'ndjson or csv', 'ndjson')
    .option('--outstanding', 'only the certificates not re-issued yet')
    .option('--out <file>', 'write here instead of to standard output')
    .action(async (o: { format: string; outstanding?: boolean; out?: string }) => {
      if (o.format !== 'ndjson' && o.format !== 'csv') throw new Error(`--format must be ndjson or csv (got "${o.format}")`);
      const format = o.format as WorkListFormat;
      await withNode(g(), async (node) => {
        const c = await node.campaigns.current();
        if (!c) throw new Error('no re-issuance campaign');
        const sink = o.out ? createWriteStream(o.out) : process.stdout;
        sink.write(workListHeader(format));
        let after: string | undefined;
        for (let i = 0; i < 1_000_000; i++) {
          const items = await node.campaigns.items({ after, limit: 500, outstanding: o.outstanding }, c);
          if (!items.length) break;
          sink.write(workListLines(items, format));
          after = items.at(-1)!.serial;
        }
        if (o.out) await new Promise<void>((r) => (sink as ReturnType<typeof createWriteStream>).end(r));
      });
    });

  campaign.command('reissue')
    .description('re-issue REST certificates of the campaign from their stored public key (same profile and names)')
    .argument('<serial...>', 'serials from the work list')
    .action(async (serials: string[]) => {
      await withWritableNode(g(), async (node) => {
        const done: Array<{ serial: string; newSerial?: string; error?: string }> = [];
        for (const s of serials) {
          const serial = normalizeSerial(s);
          try {
            if (!serial) throw new Error(`"${s}" is not a hexadecimal serial`);
            done.push({ serial, newSerial: (await node.campaigns.reissue(serial, cliActor())).record.serial });
          } catch (e) {
            done.push({ serial: serial ?? s, error: (e as Error).message });
          }
        }
        out(g(), { reissued: done }, () => done.map((d) => (d.error ? `${d.serial}: FAILED ${d.error}` : `${d.serial} -> ${d.newSerial}`)).join('\n'));
        if (done.some((d) => d.error)) process.exitCode = 1;
      });
    });

  campaign.command('finish')
    .description('end the campaign and revoke what is left of the old hierarchy (refused while certificates are outstanding, before the deadline, without --force)')
    .option('--force', 'finish now: outstanding certificates are revoked too')
    .action(async (o: { force?: boolean }) => {
      await withWritableNode(g(), async (node) => {
        const r = await node.campaigns.finish({ actor: cliActor(), force: o.force });
        out(g(), r, () => `${r.note}${r.failed.length ? `\n${r.failed.length} revocation(s) failed: ${r.failed.slice(0, 5).map((f) => `${f.serial} (${f.error})`).join('; ')}` : ''}`);
        if (r.failed.length) process.exitCode = 1;
      });
    });
}
