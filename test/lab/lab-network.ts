/**
 * The fault lab's network: N hosts as network namespaces on one bridge.
 *
 * A lab has a prefix (default `rl-<pid>`): its namespaces are `<prefix>-1`,
 * `<prefix>-2`, ..., its bridge `<prefix>-br` (in the root namespace, holding
 * the `.1` address: that is the "client" host, where the test process and
 * its workload run), the host side of each veth pair `<prefix>-v<i>`. Each
 * lab takes its own 10.231.<k>.0/24, claimed by an atomic mkdir under
 * /run/rampart-lab (a claim whose owner process is gone is taken over), and
 * the lab's state (hosts, addresses, owner pid) is written there as JSON so
 * the CLI (cli.ts) can inject faults and tear down from another shell.
 *
 * Teardown (destroyLab) works from names alone, so it also cleans a lab whose
 * owner crashed: every process inside the lab's namespaces (`ip netns pids`)
 * is killed by PID, the namespaces and the bridge are deleted (iptables state
 * lives in the namespaces and goes with them), the subnet claim is removed.
 * Needs root (ip netns); a missing `ip` or `iptables` is installed from Debian
 * when root (requireCommand), and without root the lab fails with a message.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCommand } from '../helpers/debian.js';
import { alive } from '../../src/dr/pg-auto-failover.js';

export const LAB_RUN_DIR = '/run/rampart-lab';
const SUBNET_BASE = '10.231';
const SBIN = { dirs: ['/usr/sbin', '/sbin'] };

export interface LabHost {
  /** Role name given by the scenario: 'pg', 'n1', 'haproxy', ... */
  name: string;
  ns: string;
  ip: string;
}

export interface LabState {
  prefix: string;
  ownerPid: number;
  bridge: string;
  /** e.g. '10.231.7' (the /24 without its last octet). */
  subnet: string;
  /** The root namespace's address on the bridge: where the test process (the clients) sits. */
  clientIp: string;
  hosts: LabHost[];
}

export interface LabNetwork extends LabState {
  host(name: string): LabHost;
  /** Runs a command inside a host's namespace; resolves with stdout. */
  exec(host: string, cmd: string, args: string[], timeoutMs?: number): Promise<string>;
  /** argv prefix that runs a command inside a host's namespace (for spawn). */
  wrap(host: string): string[];
  /** Tears everything down (processes in the namespaces, namespaces, bridge, claim). Safe to call twice. */
  destroy(): Promise<void>;
}

export function requireRoot(what = 'the fault lab (network namespaces)'): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`${what} needs root: ip netns, veth pairs, bridges and iptables inside namespaces are root-only. Run the test as root (CI runs as root).`);
  }
}

export const ipBin = (): string => requireCommand('ip', 'iproute2', SBIN);
export const iptablesBin = (): string => requireCommand('iptables', 'iptables', SBIN);

/** Runs a command (no shell); rejects with its stderr. */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd.split('/').pop()} ${args.join(' ')} failed: ${(stderr || stdout || err.message).trim().split('\n').slice(0, 5).join(' | ')}`));
      else resolve(stdout);
    });
  });
}

const runSync = (cmd: string, args: string[]): { ok: boolean; out: string } => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
};

const statePath = (prefix: string): string => join(LAB_RUN_DIR, `${prefix}.json`);

/** The saved state of a lab (for the CLI), or null. */
export function readLabState(prefix: string): LabState | null {
  try { return JSON.parse(readFileSync(statePath(prefix), 'utf8')) as LabState; } catch { return null; }
}

/** Every lab state file under /run/rampart-lab. */
export function listLabStates(): LabState[] {
  let names: string[] = [];
  try { names = readdirSync(LAB_RUN_DIR).filter((n) => n.endsWith('.json')); } catch { return []; }
  return names.map((n) => readLabState(n.slice(0, -5))).filter((s): s is LabState => s !== null);
}

/** Claims a free 10.231.<k>.0/24 for `prefix` (atomic mkdir; claims of dead owners are taken over). */
function claimSubnet(prefix: string): string {
  mkdirSync(LAB_RUN_DIR, { recursive: true });
  const used = runSync(ipBin(), ['-o', '-4', 'addr', 'show']).out;
  const start = process.pid % 250;
  for (let i = 0; i < 250; i++) {
    const k = ((start + i) % 250) + 1;
    const subnet = `${SUBNET_BASE}.${k}`;
    if (used.includes(` ${subnet}.`)) continue;
    const dir = join(LAB_RUN_DIR, `subnet-${subnet}`);
    try {
      mkdirSync(dir);
    } catch {
      let owner = '';
      try { owner = readFileSync(join(dir, 'owner'), 'utf8').trim(); } catch { /* being written */ }
      const [pid, ownerPrefix] = owner.split(' ');
      if (!pid || alive(Number(pid))) continue;
      // A dead owner's claim: clean its lab first if it left one.
      if (ownerPrefix && ownerPrefix !== prefix) destroyLabSync(ownerPrefix);
      rmSync(dir, { recursive: true, force: true });
      try { mkdirSync(dir); } catch { continue; }
    }
    writeFileSync(join(dir, 'owner'), `${process.pid} ${prefix}\n`);
    return subnet;
  }
  throw new Error('no free 10.231.x.0/24 for a fault lab (250 labs running?)');
}

function labNamespaces(prefix: string): string[] {
  const out = runSync(ipBin(), ['netns', 'list']).out;
  return out.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`) && /^\d+$/.test(n.slice(prefix.length + 1)));
}

/**
 * Removes the lab named `prefix`, whatever state it is in: SIGKILL to every
 * process in its namespaces (by PID, a bounded number of rounds), then the
 * namespaces, the bridge (and with it the veths), the state file and the
 * subnet claim. Synchronous, so it also runs from an 'exit' handler.
 */
export function destroyLabSync(prefix: string): void {
  const ip = ipBin();
  const namespaces = labNamespaces(prefix);
  for (let round = 0; round < 20; round++) {
    const pids = namespaces.flatMap((ns) => runSync(ip, ['netns', 'pids', ns]).out.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number));
    if (pids.length === 0) break;
    for (const pid of pids) {
      try { process.kill(pid, 'SIGCONT'); process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    spawnSync('sleep', ['0.1']);
  }
  for (const ns of namespaces) runSync(ip, ['netns', 'del', ns]);
  runSync(ip, ['link', 'del', `${prefix}-br`]);
  const state = readLabState(prefix);
  rmSync(statePath(prefix), { force: true });
  let claims: string[] = [];
  try { claims = readdirSync(LAB_RUN_DIR).filter((n) => n.startsWith('subnet-')); } catch { /* none */ }
  for (const c of claims) {
    let owner = '';
    try { owner = readFileSync(join(LAB_RUN_DIR, c, 'owner'), 'utf8').trim(); } catch { /* none */ }
    if (owner.split(' ')[1] === prefix || (state && c === `subnet-${state.subnet}`)) rmSync(join(LAB_RUN_DIR, c), { recursive: true, force: true });
  }
}

const liveLabs = new Set<string>();
process.once('exit', () => { for (const p of liveLabs) { try { destroyLabSync(p); } catch { /* best effort */ } } });

export interface CreateLabOptions {
  /** Role names of the hosts, in order: namespace i+1 gets address .(i+2). */
  hosts: string[];
  /** Default `rl-<pid>`; at most 10 characters (interface names are 15). */
  prefix?: string;
}

/** Builds the lab's namespaces and bridge; a stale lab with the same prefix is removed first. */
export async function createLabNetwork(o: CreateLabOptions): Promise<LabNetwork> {
  requireRoot();
  const prefix = o.prefix ?? `rl-${process.pid}`;
  if (!/^[a-z][a-z0-9-]{0,9}$/.test(prefix)) throw new Error(`lab prefix "${prefix}": 1-10 of a-z 0-9 -, starting with a letter`);
  if (o.hosts.length < 1 || o.hosts.length > 50) throw new Error('a lab has 1..50 hosts');
  if (new Set(o.hosts).size !== o.hosts.length) throw new Error(`host names repeat: ${o.hosts.join(', ')}`);
  const ip = ipBin();
  iptablesBin();
  destroyLabSync(prefix);
  liveLabs.add(prefix);
  const subnet = claimSubnet(prefix);
  const bridge = `${prefix}-br`;
  const hosts: LabHost[] = o.hosts.map((name, i) => ({ name, ns: `${prefix}-${i + 1}`, ip: `${subnet}.${i + 2}` }));
  const state: LabState = { prefix, ownerPid: process.pid, bridge, subnet, clientIp: `${subnet}.1`, hosts };
  writeFileSync(statePath(prefix), `${JSON.stringify(state, null, 2)}\n`);
  const destroy = async (): Promise<void> => {
    if (!liveLabs.has(prefix)) return;
    liveLabs.delete(prefix);
    destroyLabSync(prefix);
  };
  try {
    await run(ip, ['link', 'add', bridge, 'type', 'bridge']);
    await run(ip, ['addr', 'add', `${state.clientIp}/24`, 'dev', bridge]);
    await run(ip, ['link', 'set', bridge, 'up']);
    for (const [i, h] of hosts.entries()) {
      const veth = `${prefix}-v${i + 1}`;
      await run(ip, ['netns', 'add', h.ns]);
      await run(ip, ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
      await run(ip, ['link', 'set', veth, 'master', bridge, 'up']);
      await run(ip, ['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
      await run(ip, ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      await run(ip, ['-n', h.ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return labNetwork(state, destroy);
}

/** A handle on an existing lab (from its state file), for the CLI. */
export function labNetwork(state: LabState, destroy: () => Promise<void> = async () => destroyLabSync(state.prefix)): LabNetwork {
  const host = (name: string): LabHost => {
    const h = state.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host "${name}" in lab ${state.prefix} (hosts: ${state.hosts.map((x) => x.name).join(', ')})`);
    return h;
  };
  const wrap = (name: string): string[] => [ipBin(), 'netns', 'exec', host(name).ns];
  return {
    ...state, host, wrap, destroy,
    exec: (name, cmd, args, timeoutMs) => run(wrap(name)[0]!, [...wrap(name).slice(1), cmd, ...args], timeoutMs),
  };
}
