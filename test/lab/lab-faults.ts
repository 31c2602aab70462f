/**
 * Faults the lab injects, each healed by heal() (or by its own counterpart):
 * - partition: hosts in different groups cannot exchange packets (DROP in
 *   both directions, in each host's own namespace); hosts named in no group
 *   keep talking to everyone. The name 'client' stands for the root
 *   namespace (the test process and its workload).
 * - oneWay: packets from one host to another are dropped; the reverse passes.
 * - loss: a share of the packets between two hosts is dropped at random
 *   (iptables statistic; this kernel has no netem).
 * - bandwidth: the packets between two hosts shaped to a rate, both ways
 *   (tc htb on each host's eth0: a class at that rate for the other host's
 *   address, a u32 filter sending its packets there; other traffic is not
 *   shaped. tbf/htb work here, netem does not).
 * - signalHost: SIGKILL, SIGSTOP or SIGCONT to every process in a host's
 *   namespace (by PID, from `ip netns pids`).
 * Every rule sits in the lab's own chain RLAB-IN / RLAB-OUT of each
 * namespace, every shaping under the root qdisc of its eth0: heal() flushes
 * the chains and deletes the qdiscs, and teardown deletes the namespaces.
 */
import { requireCommand } from '../helpers/debian.js';
import { iptablesBin, ipBin, run, type LabNetwork } from './lab-network.js';

export const CLIENT = 'client';

export type Fault =
  | { kind: 'partition'; groups: string[][] }
  | { kind: 'one-way'; from: string; to: string }
  | { kind: 'loss'; a: string; b: string; probability: number }
  | { kind: 'bandwidth'; a: string; b: string; kbit: number };

const tcBin = (): string => requireCommand('tc', 'iproute2', { dirs: ['/usr/sbin', '/sbin'] });

/** Shapes packets leaving `at` for `to` to `kbit` (htb class 1:<to's index + 10> under eth0's root qdisc 1:, made on first use; unclassified traffic passes unshaped). */
async function shapeOut(lab: LabNetwork, at: string, to: string, kbit: number): Promise<void> {
  const tc = tcBin();
  const hasRoot = (await lab.exec(at, tc, ['qdisc', 'show', 'dev', 'eth0'])).includes('htb 1:');
  if (!hasRoot) await lab.exec(at, tc, ['qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb']);
  const classId = `1:${(lab.hosts.findIndex((h) => h.name === to) + 10).toString(16)}`;
  // Burst: at least one full-size packet per tick, so a low rate still passes whole packets.
  await lab.exec(at, tc, ['class', 'replace', 'dev', 'eth0', 'parent', '1:', 'classid', classId, 'htb', 'rate', `${kbit}kbit`, 'ceil', `${kbit}kbit`, 'burst', '15k', 'cburst', '15k']);
  await lab.exec(at, tc, ['filter', 'add', 'dev', 'eth0', 'protocol', 'ip', 'parent', '1:', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${ipOf(lab, to)}/32`, 'flowid', classId]);
}

const ipOf = (lab: LabNetwork, name: string): string => (name === CLIENT ? lab.clientIp : lab.host(name).ip);

async function ensureChains(lab: LabNetwork, host: string): Promise<void> {
  const ipt = iptablesBin();
  for (const [chain, hook] of [['RLAB-IN', 'INPUT'], ['RLAB-OUT', 'OUTPUT']] as const) {
    const exists = await lab.exec(host, ipt, ['-S', chain]).then(() => true, () => false);
    if (exists) continue;
    await lab.exec(host, ipt, ['-N', chain]);
    await lab.exec(host, ipt, ['-I', hook, '1', '-j', chain]);
  }
}

/** Drops packets arriving at `at` from `fromIp` (probability < 1: that share, at random). */
async function dropIn(lab: LabNetwork, at: string, fromIp: string, probability = 1): Promise<void> {
  await ensureChains(lab, at);
  const stat = probability < 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', String(probability)] : [];
  await lab.exec(at, iptablesBin(), ['-A', 'RLAB-IN', '-s', fromIp, ...stat, '-j', 'DROP']);
}

/** Drops packets leaving `at` for `toIp`. */
async function dropOut(lab: LabNetwork, at: string, toIp: string): Promise<void> {
  await ensureChains(lab, at);
  await lab.exec(at, iptablesBin(), ['-A', 'RLAB-OUT', '-d', toIp, '-j', 'DROP']);
}

/** Cuts `a` from `b` both ways; rules go in the namespaces of both (only the lab host's for 'client'). */
async function cut(lab: LabNetwork, a: string, b: string): Promise<void> {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    if (x === CLIENT) continue;
    await dropIn(lab, x, ipOf(lab, y));
    await dropOut(lab, x, ipOf(lab, y));
  }
}

export async function injectFault(lab: LabNetwork, f: Fault): Promise<void> {
  if (f.kind === 'partition') {
    if (f.groups.length < 2) throw new Error('a partition needs at least two groups');
    const all = f.groups.flat();
    if (new Set(all).size !== all.length) throw new Error(`a host is in two groups: ${JSON.stringify(f.groups)}`);
    for (const n of all) ipOf(lab, n);
    for (let i = 0; i < f.groups.length; i++) {
      for (let j = i + 1; j < f.groups.length; j++) {
        for (const a of f.groups[i]!) for (const b of f.groups[j]!) await cut(lab, a, b);
      }
    }
  } else if (f.kind === 'one-way') {
    if (f.to === CLIENT) throw new Error('one-way: the destination must be a lab host (rules go in its namespace)');
    await dropIn(lab, f.to, ipOf(lab, f.from));
  } else if (f.kind === 'bandwidth') {
    if (!(Number.isInteger(f.kbit) && f.kbit >= 8)) throw new Error(`bandwidth: a whole number of kbit/s, at least 8, got ${f.kbit}`);
    if (f.a === CLIENT || f.b === CLIENT) throw new Error('bandwidth: both ends must be lab hosts (shaping goes on their eth0)');
    for (const [x, y] of [[f.a, f.b], [f.b, f.a]] as const) await shapeOut(lab, x, y, f.kbit);
  } else {
    if (!(f.probability > 0 && f.probability < 1)) throw new Error(`loss probability must be in (0, 1), got ${f.probability}`);
    for (const [x, y] of [[f.a, f.b], [f.b, f.a]] as const) if (x !== CLIENT) await dropIn(lab, x, ipOf(lab, y), f.probability);
  }
}

/** Removes every injected network fault (flushes RLAB-IN / RLAB-OUT and deletes eth0's shaping in every namespace). */
export async function heal(lab: LabNetwork): Promise<void> {
  const ipt = iptablesBin();
  const tc = tcBin();
  for (const h of lab.hosts) {
    for (const chain of ['RLAB-IN', 'RLAB-OUT']) await lab.exec(h.name, ipt, ['-F', chain]).catch(() => undefined);
    if ((await lab.exec(h.name, tc, ['qdisc', 'show', 'dev', 'eth0']).catch(() => '')).includes('htb 1:')) await lab.exec(h.name, tc, ['qdisc', 'del', 'dev', 'eth0', 'root']);
  }
}

/** PIDs of every process inside a host's namespace. */
export async function hostPids(lab: LabNetwork, host: string): Promise<number[]> {
  const out = await run(ipBin(), ['netns', 'pids', lab.host(host).ns]);
  return out.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l)).map(Number);
}

/** Sends `signal` to every process on `host` (kill -9 of a host, SIGSTOP / SIGCONT to pause and resume it). */
export async function signalHost(lab: LabNetwork, host: string, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<number[]> {
  const pids = await hostPids(lab, host);
  for (const pid of pids) {
    try { process.kill(pid, signal); } catch { /* gone */ }
  }
  return pids;
}

/** Parses the CLI's fault words: `partition a,b c`, `one-way a b`, `loss a b 0.05`. */
export function parseFault(words: string[]): Fault {
  const [kind, ...rest] = words;
  if (kind === 'partition' && rest.length >= 2) return { kind, groups: rest.map((g) => g.split(',').filter(Boolean)) };
  if (kind === 'one-way' && rest.length === 2) return { kind, from: rest[0]!, to: rest[1]! };
  if (kind === 'loss' && rest.length === 3) return { kind, a: rest[0]!, b: rest[1]!, probability: Number(rest[2]) };
  if (kind === 'bandwidth' && rest.length === 3) return { kind, a: rest[0]!, b: rest[1]!, kbit: Number(rest[2]) };
  throw new Error('fault: partition <a,b> <c,d> [...] | one-way <from> <to> | loss <a> <b> <probability> | bandwidth <a> <b> <kbit/s>');
}
