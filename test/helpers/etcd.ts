/**
 * A real etcd cluster (Debian's etcd-server, installed when missing and
 * root) for the witness tests: N members, each a child process with its own
 * data directory, on loopback ports or on given addresses (inside lab
 * namespaces, through `wrap`). stop() kills every member by PID and removes
 * the data directories; members can be paused and resumed (SIGSTOP/SIGCONT)
 * or killed one by one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { httpCall } from '../../src/core/http-client.js';
import { waitUntil } from '../../src/core/wait.js';
import { requireCommand } from './debian.js';
import { removeDir, tempDir } from './node-process.js';
import { freePort } from './ports.js';

export interface EtcdMember { name: string; clientUrl: string; peerUrl: string; proc: ChildProcess; log: () => string }

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  signal(i: number, sig: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void;
  /** Index of the member that is the Raft leader now (asked of each member's status). */
  leaderIndex(): Promise<number>;
  stop(): Promise<void>;
}

export interface EtcdClusterOptions {
  /** One address per member (default three members on 127.0.0.1, free ports). */
  hosts?: string[];
  /** argv prefix to run member i inside a namespace (ip netns exec ...). */
  wrap?: (i: number) => string[];
}

export const etcdBin = (): string => requireCommand('etcd', 'etcd-server', { dirs: ['/usr/bin', '/usr/sbin'] });

export async function startEtcdCluster(o: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const bin = etcdBin();
  const hosts = o.hosts ?? ['127.0.0.1', '127.0.0.1', '127.0.0.1'];
  const dir = tempDir('rampart-etcd-');
  const ports: Array<{ client: number; peer: number }> = [];
  for (let i = 0; i < hosts.length; i++) ports.push(o.hosts ? { client: 2379, peer: 2380 } : { client: await freePort(), peer: await freePort() });
  const names = hosts.map((_, i) => `m${i + 1}`);
  const initial = names.map((n, i) => `${n}=http://${hosts[i]}:${ports[i]!.peer}`).join(',');
  const members: EtcdMember[] = [];
  const stop = async (): Promise<void> => {
    for (const m of members) {
      try { m.proc.kill('SIGCONT'); m.proc.kill('SIGKILL'); } catch { /* gone */ }
    }
    await Promise.all(members.map((m) => (m.proc.exitCode !== null || m.proc.signalCode !== null ? undefined : new Promise((r) => m.proc.once('exit', r)))));
    removeDir(dir);
  };
  try {
    for (const [i, name] of names.entries()) {
      const h = hosts[i]!;
      const clientUrl = `http://${h}:${ports[i]!.client}`;
      const peerUrl = `http://${h}:${ports[i]!.peer}`;
      const args = [bin, '--name', name, '--data-dir', join(dir, name), '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', initial, '--initial-cluster-state', 'new',
        '--initial-cluster-token', `rampart-test-${process.pid}`, '--heartbeat-interval', '100', '--election-timeout', '1000', '--pre-vote', '--log-level', 'warn'];
      const argv = [...(o.wrap?.(i) ?? []), ...args];
      const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-20_000); };
      proc.stdout!.on('data', keep);
      proc.stderr!.on('data', keep);
      members.push({ name, clientUrl, peerUrl, proc, log: () => out });
    }
    for (const m of members) {
      await waitUntil(`etcd member ${m.name} to be healthy`, async () => {
        if (m.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited:\n${m.log()}`);
        const r = await httpCall(`${m.clientUrl}/health`, { timeoutMs: 1000 });
        return r.status === 200 && /"health":\s*"true"/.test(r.raw.toString('utf8'));
      }, 30_000, 200);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    members, endpoints: members.map((m) => m.clientUrl), stop,
    signal(i, sig) { members[i]!.proc.kill(sig); },
    async leaderIndex() {
      const ids: string[] = [];
      let leader = '';
      for (const m of members) {
        const r = await httpCall(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', json: {}, timeoutMs: 2000 });
        const b = r.body as { header?: { member_id?: string }; leader?: string };
        ids.push(String(b.header?.member_id ?? ''));
        leader ||= String(b.leader ?? '');
      }
      const i = ids.indexOf(leader);
      if (i < 0) throw new Error(`etcd: no member is the leader (${leader}; members ${ids.join(', ')})`);
      return i;
    },
  };
}
