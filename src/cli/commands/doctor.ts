/**
 * `rampart doctor [--url URL] [--api-url URL] [--json]`: checks a data
 * directory and its running node against what production needs and names
 * the fix for each finding. Exit status: 0 all ok, 1 warnings only,
 * 2 at least one failure (src/cli/doctor/findings.ts).
 */
import type { Command } from 'commander';
import { parseListen } from '../../config/schema.js';
import { toPem } from '../../core/pem.js';
import { out, withNode, type GlobalOptions } from '../context.js';
import {
  backupCheck, caExpiryCheck, clockSkewCheck, diskCheck, drillCheck, ocspSignerCheck, publicBaseUrlCheck, replicationCheck,
} from '../doctor/data-checks.js';
import { exitStatus, renderFindings, type Finding } from '../doctor/findings.js';
import { apiTlsCheck, readyCheck } from '../doctor/node-checks.js';

function listenUrl(scheme: 'http' | 'https', listen: string): string {
  const l = parseListen(listen)!;
  const host = l.host === '0.0.0.0' ? '127.0.0.1' : l.host === '::' ? '::1' : l.host;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${l.port}`;
}

export function registerDoctor(program: Command, g: () => GlobalOptions): void {
  program.command('doctor')
    .description('check the data directory and the running node against what production needs; names the fix for each finding (exit 0 ok, 1 warnings, 2 failures)')
    .option('--url <url>', 'the running node\'s plain-HTTP listener (default: http.listen of the configuration)')
    .option('--api-url <url>', 'the running node\'s HTTPS API listener (default: https.listen of the configuration)')
    .action(async (opts: { url?: string; apiUrl?: string }) => {
      const findings: Finding[] = await withNode(g(), async (node) => {
        const report = await node.health.run(node.clock.now());
        const httpUrl = (opts.url ?? listenUrl('http', node.config.http.listen)).replace(/\/+$/, '');
        const httpsUrl = (opts.apiUrl ?? listenUrl('https', node.config.https.listen)).replace(/\/+$/, '');
        const caPems = node.ca.cas().map((c) => toPem(c.certDer));
        return [
          publicBaseUrlCheck(node),
          await clockSkewCheck(node),
          diskCheck(report),
          caExpiryCheck(report),
          ocspSignerCheck(node),
          await backupCheck(node, report),
          await drillCheck(node, report),
          await replicationCheck(node, report),
          await readyCheck(httpUrl),
          await apiTlsCheck(httpsUrl, caPems, node.clock.now()),
        ];
      });
      const status = exitStatus(findings);
      out(g(), { status: ['ok', 'warn', 'fail'][status], exitStatus: status, findings }, () => renderFindings(findings));
      process.exitCode = status;
    });
}
