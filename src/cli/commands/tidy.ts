/** `rampart tidy run [--dry-run]`: archive and remove long-expired certificates now (tidy in docs/DESIGN.md). */
import type { Command } from 'commander';
import { RampartError } from '../../core/errors.js';
import { lowerThreadPriority } from '../../core/thread-priority.js';
import { cliActor, out, withWritableNode, type GlobalOptions } from '../context.js';

export function registerTidy(program: Command, g: () => GlobalOptions): void {
  const tidy = program.command('tidy').description('bounded growth: archive long-expired certificates');
  tidy.command('run')
    .description('move certificates expired for longer than tidy.archiveExpiredAfterDays to an encrypted archive on the backup targets and remove them')
    .option('--dry-run', 'count what would be archived; change nothing')
    .action(async (o: { dryRun?: boolean }) => {
      // Beside a running node, tidy gives way to it for CPU (core/thread-priority.ts).
      lowerThreadPriority();
      await withWritableNode(g(), async (node) => {
        if (node.config.tidy.archiveExpiredAfterDays <= 0) throw new RampartError('malformed', 'tidy is off: set tidy.archiveExpiredAfterDays (days after expiry) in the configuration');
        const r = await node.tidy().run(cliActor(), { dryRun: !!o.dryRun });
        out(g(), r, () => (r.dryRun
          ? `Would archive ${r.archived} certificates expired before ${r.cutoff} (${r.batches} batches)`
          : `Archived and removed ${r.archived} certificates expired before ${r.cutoff}: ${r.objects.length} archive objects, ${r.archiveBytes} bytes, name-search index compacted in ${r.searchIndexSteps} steps, ${(r.elapsedMs / 1000).toFixed(1)} s`));
      });
    });
}
