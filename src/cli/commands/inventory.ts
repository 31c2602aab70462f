/** `rampart inventory synthesize`: a synthetic inventory of real certificates for capacity tests. */
import type { Command } from 'commander';
import type { ProfilePolicy } from '../../ra/policy.js';
import { synthesizeInventory, type SynthesizeProgress } from '../../ra/synthetic-inventory.js';
import { cliActor, loadCliConfig, out, withWritableNode, type GlobalOptions } from '../context.js';

const num = (v: string): number => Number(v);

/** One line on stderr at most every second: done, rate, ETA (rewritten in place on a terminal). */
function progressPrinter(): (p: SynthesizeProgress) => void {
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last < 1000 && p.done < p.total) return;
    last = now;
    const rate = p.done / Math.max(p.elapsedMs / 1000, 0.001);
    const eta = rate > 0 ? Math.round((p.total - p.done) / rate) : 0;
    const line = `synthesize: ${p.done}/${p.total} (${((100 * p.done) / p.total).toFixed(1)}%) ${Math.round(rate)}/s, ETA ${eta}s`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}${p.done >= p.total ? '\n' : ''}` : `${line}\n`);
  };
}

export function registerInventory(program: Command, g: () => GlobalOptions): void {
  const inventory = program.command('inventory').description('certificate inventory maintenance');
  inventory.command('synthesize')
    .description('fill the database with N real certificates signed by the active issuing CA (capacity tests; run with the node stopped)')
    .requiredOption('--count <n>', 'number of certificates', num)
    .option('--revoked-fraction <f>', 'fraction revoked (0..1)', num, 0.1)
    .option('--expired-fraction <f>', 'fraction already expired (0..1)', num, 0.1)
    .option('--seed <text>', 'seed: the same seed and count give the same inventory (default random)')
    .option('--profile <name>', 'certificate profile whose extensions the certificates carry', 'server')
    .option('--batch-size <n>', 'rows per database transaction', num, 10_000)
    .option('--workers <n>', 'encoding worker threads (default one per CPU, at most 4)', num)
    .action(async (o: { count: number; revokedFraction: number; expiredFraction: number; seed?: string; profile: string; batchSize: number; workers?: number }) => {
      const profiles = loadCliConfig(g()).profiles as Record<string, ProfilePolicy>;
      await withWritableNode(g(), async (node) => {
        const r = await synthesizeInventory({ ca: node.ca, store: node.store, audit: node.audit, clock: node.clock, profiles }, {
          count: o.count, revokedFraction: o.revokedFraction, expiredFraction: o.expiredFraction, seed: o.seed, profile: o.profile,
          batchSize: o.batchSize, workers: o.workers, onProgress: g().json ? undefined : progressPrinter(),
        }, cliActor());
        out(g(), r, () => `Stored ${r.count} certificates of issuer ${r.issuerId} (${r.revoked} revoked, ${r.expired} expired) in ${(r.elapsedMs / 1000).toFixed(1)} s; seed ${r.seed}`);
      });
    });
}
