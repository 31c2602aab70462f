/**
 * `rampart integrity check [--json]`: the scheduled corruption check, now, in
 * a worker thread (it does not open the node, so it runs on a database the
 * node can no longer open); its verdict is saved where the node reads it
 * (a passing check after a repair lets the node issue again).
 * `rampart integrity reconcile --from-audit FILE [--json]`: after a restore,
 * puts back what the forwarded audit copy holds that the database does not.
 * Exit codes: check 0 ok, 1 corruption found, 2 not everything checked;
 * reconcile 0 everything recovered, 1 some certificates unrecoverable.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolvedPaths } from '../../config/load.js';
import { RampartError } from '../../core/errors.js';
import { IntegrityMonitor } from '../../integrity/integrity-monitor.js';
import { integrityJob, runIntegrityCheck } from '../../integrity/integrity-runner.js';
import { summarize, type IntegrityReport } from '../../integrity/integrity-report.js';
import { auditReconcile, reconcileFromAudit, type ReconcileReport } from '../../integrity/reconcile.js';
import { cliActor, loadCliConfig, out, withWritableNode, type GlobalOptions } from '../context.js';

export function registerIntegrity(program: Command, g: () => GlobalOptions): void {
  const integrity = program.command('integrity').description('corruption detection and reconciliation after a restore');
  integrity.command('check')
    .description('check the database now: the engine\'s own check (SQLite quick_check / PostgreSQL checksums and amcheck) and every certificate, CRL number and the audit chain')
    .option('--full', 'SQLite integrity_check instead of quick_check (also every index entry against its row)')
    .action(async (o: { full?: boolean }) => {
      const cfg = loadCliConfig(g());
      const paths = resolvedPaths(cfg);
      const monitor = new IntegrityMonitor({
        run: () => runIntegrityCheck(integrityJob(cfg, paths.dbPath, process.env, o.full ? { level: 'full' } : {})),
        enabled: true, everyMs: 0, firstMs: 0, stateFile: existsSync(paths.dataDir) ? join(paths.dataDir, 'integrity-state.json') : null,
        onError: () => undefined,
      });
      const r = await monitor.check();
      out(g(), r, () => human(r));
      process.exitCode = r.status === 'corrupt' ? 1 : r.status === 'incomplete' ? 2 : 0;
    });
  integrity.command('reconcile')
    .description('after restoring a backup: put back the certificates issued and the revocations made after it, from a forwarded copy of the audit log (JSON lines)')
    .requiredOption('--from-audit <file|dir>', 'the JSON-lines audit copy (audit.forward type jsonl, or what the SIEM exported in that form), or a directory of its rotated files')
    .action(async (o: { fromAudit: string }) => {
      if (!existsSync(o.fromAudit)) throw new RampartError('malformed', `no such file or directory: ${o.fromAudit}`);
      await withWritableNode(g(), async (node) => {
        const r = await reconcileFromAudit(node.store, node.audit, o.fromAudit);
        await auditReconcile(node.audit, cliActor(), o.fromAudit, r);
        out(g(), r, () => reconcileText(r));
        if (r.unrecoverable.length) process.exitCode = 1;
      });
    });
}

function human(r: IntegrityReport): string {
  const lines = [`Integrity (${r.database}, ${r.durationMs} ms): ${r.status.toUpperCase()}`];
  for (const f of r.findings) {
    lines.push(`  ${f.status.padEnd(8)} ${f.check}: ${f.detail}`);
    if (f.status === 'corrupt') for (const p of (f.problems ?? []).slice(0, 20)) lines.push(`           ${p}`);
  }
  if (r.status === 'corrupt') lines.push(`${summarize(r)}\nRestore the last clean backup and reconcile (docs/runbooks/database-corruption.md).`);
  return lines.join('\n');
}

export function reconcileText(r: ReconcileReport): string {
  const lines = [
    `Reconciled from ${r.file} (${r.linesRead} lines): restored log head ${r.restoredHead.seq} → ${r.head.seq} (${r.auditAppended} entries appended verbatim, ${r.auditReplayed} as audit.replayed)`,
    `  certificates put back: ${r.restored.length}; revocations applied again: ${r.revoked.length}; already present: ${r.alreadyPresent}; archived by tidy (not put back): ${r.archived.length}`,
  ];
  if (r.auditGap) lines.push(`  audit gap: ${r.auditGap}`);
  if (r.badLines.length) lines.push(`  unusable lines: ${r.badLines.length} (first: line ${r.badLines[0]!.line}: ${r.badLines[0]!.reason})`);
  if (r.unrecoverable.length) {
    lines.push(`  UNRECOVERABLE: ${r.unrecoverable.length} certificate(s):`);
    for (const u of r.unrecoverable) lines.push(`    ${u.serial} (audit seq ${u.seq}${u.issuerId ? `, issuer ${u.issuerId}` : ''}): ${u.reason}`);
  } else {
    lines.push('  every certificate in the audit copy is in the database');
  }
  return lines.join('\n');
}
