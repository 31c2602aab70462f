/** `rampart cluster status`: the nodes registered in the shared database and the leader lease. */
import type { Command } from 'commander';
import { clusterView } from '../../http/servers.js';
import { out, withNode, type GlobalOptions } from '../context.js';
import type { RegionStatus } from '../../region/region-monitor.js';

function regionLines(r: RegionStatus | null): string[] {
  if (!r) return [];
  const lag = r.dbRole === 'replica' ? `   lag: ${r.lagSeconds === null ? 'unknown' : `${r.lagSeconds.toFixed(1)} s`}, ${r.lagBytes ?? '?'} bytes (replayed up to ${r.replayLsn ?? '?'})` : '';
  return [
    `region: ${r.region}   database: ${r.dbRole}   active region: ${r.activeRegion ?? '-'} (epoch ${r.epoch ?? '-'}, timeline ${r.timeline ?? '-'})   ${r.writable ? 'WRITABLE' : r.fenced ? 'FENCED' : 'read-only'}${lag}`,
    `  ${r.reason}`,
    ...r.standbys.map((s) => `  standby ${s.name}: ${s.state}/${s.syncState}, ${s.lagBytes ?? '?'} bytes behind`),
    ...r.peers.map((p) => `  peer region ${p.region}: ${p.reachable ? `${p.role}, active ${p.activeRegion ?? '-'} epoch ${p.epoch ?? '-'} timeline ${p.timeline ?? '-'}` : `unreachable (${p.error ?? ''})`}`),
  ];
}

interface NodeView { id: string; up: boolean; leader: boolean; health: string; writable: boolean; version: string; roles: string[]; httpUrl: string; httpsUrl: string; lastSeen: string }

export function registerCluster(program: Command, g: () => GlobalOptions): void {
  const cluster = program.command('cluster').description('cluster membership and leadership');
  cluster.command('status')
    .description('nodes (id, version, roles, addresses, health, last seen) and the lease holder')
    .action(async () => {
      await withNode(g(), async (node) => {
        const v = await clusterView(node);
        const nodes = v.nodes as NodeView[];
        const leader = v.leader as { holder: string | null; epoch: string; expiresAt: string | null } | null;
        out(g(), v, () => [
          `mode: ${String(v.mode)}   lease holder: ${leader?.holder ?? '(none)'} (epoch ${leader?.epoch ?? '-'}, expires ${leader?.expiresAt ?? '-'})`,
          ...nodes.map((n) => `${n.leader ? '*' : ' '} ${n.id.padEnd(24)} ${(n.up ? 'up' : 'DOWN').padEnd(5)} ${n.health.padEnd(10)} ${n.writable ? 'writable' : 'read-only'}  v${n.version}  ${n.httpUrl}  ${n.httpsUrl}  last seen ${n.lastSeen}`),
          nodes.length ? '' : '(no nodes registered: cluster.mode is single, or no node has started)',
          ...regionLines(v.region as RegionStatus | null),
        ].filter(Boolean).join('\n'));
      });
    });
}
