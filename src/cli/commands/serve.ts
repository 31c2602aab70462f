/**
 * `rampart serve` (what `npm start` runs): opens the node, creates a dev
 * hierarchy on first run, starts the background jobs and both listeners, and
 * prints where to reach them.
 */
import type { Command } from 'commander';
import { loadConfigDetailed, publicBaseUrlWarnings, recordDefaults, RECORDED_DEFAULTS_FILE, type LoadedConfig } from '../../config/load.js';
import { fingerprint, startServers } from '../../http/servers.js';
import { bootstrapNode } from '../../main/first-run.js';
import { installProcessGuard } from '../../main/process-guard.js';
import { recycleDatabaseConnections } from '../../storage/sql-database.js';
import { openNode, type GlobalOptions } from '../context.js';

/** The configuration as openNode loads it, with where publicBaseUrl came from. */
export function loadCliConfigDetailed(g: GlobalOptions, overrides: Record<string, unknown> = {}): LoadedConfig {
  return loadConfigDetailed({ file: g.config, overrides: { ...(g.dataDir ? { dataDir: g.dataDir } : {}), ...overrides } });
}

const warn = (lines: string[]): void => { for (const l of lines) process.stderr.write(`warning: ${l}\n`); };

/** Before a command writes URLs into certificates: say when they may not be where the node is served. */
export function warnAboutPublicBaseUrl(g: GlobalOptions): void {
  warn(publicBaseUrlWarnings(loadCliConfigDetailed(g)));
}

/**
 * Fixes the data directory's publicBaseUrl (the first serve or init records
 * the effective one; later commands without an explicit publicBaseUrl use
 * it). An explicit value replaces the record when `replaceWithExplicit`
 * (what `serve` publishes from now on). Warns when the URLs and the
 * listener disagree.
 */
export function recordPublicBaseUrl(loaded: LoadedConfig, by: string, o: { replaceWithExplicit: boolean; listening?: boolean }): void {
  const c = loaded.config;
  warn(publicBaseUrlWarnings({ ...loaded, publicBaseUrlSource: loaded.publicBaseUrlSource === 'derived' ? 'recorded' : loaded.publicBaseUrlSource }));
  const rec = recordDefaults(c, by, { replace: o.replaceWithExplicit && loaded.publicBaseUrlSource === 'config' });
  const own = `http://${c.http.listen}`;
  if (o.listening && loaded.publicBaseUrlSource === 'recorded' && rec.publicBaseUrl !== own) {
    warn([`certificates of ${c.dataDir} point at ${rec.publicBaseUrl} (recorded in ${RECORDED_DEFAULTS_FILE} by \`${rec.recordedBy}\`), `
      + `but the HTTP listener is ${c.http.listen}: OCSP and CRLs are reachable there only through a proxy; `
      + `to move them, set publicBaseUrl explicitly (serve records it)`]);
  }
}

export function registerServe(program: Command, g: () => GlobalOptions): void {
  program.command('serve')
    .description('run a CA node (creates a dev hierarchy on first run)')
    .option('--http <host:port>', 'plain HTTP listener for OCSP, CRLs, CA certificates, health, metrics')
    .option('--https <host:port>', 'HTTPS listener for the REST API')
    .action(async (o: { http?: string; https?: string }) => {
      const overrides: Record<string, unknown> = {};
      if (o.http) overrides.http = { listen: o.http };
      if (o.https) overrides.https = { listen: o.https };
      const node = await openNode(g(), { createSecret: true, overrides, logLevel: 'info' });
      // The URLs in certificates follow the first start (see recordDefaults); the data directory exists now.
      recordPublicBaseUrl(loadCliConfigDetailed(g(), overrides), ['serve', ...(o.http ? ['--http', o.http] : []), ...(o.https ? ['--https', o.https] : [])].join(' '),
        { replaceWithExplicit: true, listening: true });
      installProcessGuard({ log: node.log, counter: node.metrics.unhandledErrors, onLibraryDefect: () => recycleDatabaseConnections() });
      const adminToken = await bootstrapNode(node);
      if (node.cluster.mode === 'single') {
        await node.issuers.ensureOcspSigners();
        await node.crl.refreshStale();
      } else {
        // Gaining the lease runs the leader's start-up work (OCSP signers, stale CRLs) by itself.
        await node.cluster.tick();
      }
      const servers = await startServers(node);
      node.startJobs();
      const root = node.ca.root();
      const u = servers.urls;
      const lines = [
        '',
        `Rampart CA node is running (data: ${node.paths.dataDir}, database: ${node.store.kind}, cluster: ${node.cluster.mode}${node.cluster.mode === 'single' ? '' : ` as ${node.cluster.nodeId}`})`,
        `  REST API      ${u.api}   (OpenAPI: ${u.openapi})`,
        u.acmeDirectory ? `  ACME          ${u.acmeDirectory}` : '',
        `  OCSP          ${u.ocsp}`,
        ...Object.entries(u.crl).map(([id, url]) => `  CRL           ${url}   (${id})`),
        `  CA bundle     ${u.caBundle}`,
        `  health        ${u.health}  ${u.ready}  ${u.metrics}`,
        node.region ? `  region        ${node.region.region}: ${node.region.status().reason}` : '',
        root ? `  root CA       ${root.subject}\n  fingerprint   SHA256 ${fingerprint(root.certDer)}` : '',
        adminToken ? `\n  Admin API token (shown once, stored hashed):\n    ${adminToken}\n` : '',
        `  Try: curl -s --cacert <(curl -s ${u.caBundle}) ${u.api}/status`,
        '',
      ];
      process.stdout.write(`${lines.filter((l) => l !== '').join('\n')}\n`);
      let stopping = false;
      const stop = async (sig: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        node.log.info({ sig }, 'stopping');
        await servers.close();
        await node.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
    });
}
