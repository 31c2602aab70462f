/**
 * Faults the lab injects, each healed by heal() (or by its own counterpart):
 * - partition: hosts in different groups cannot exchange packets (DROP in
 *   both directions, in each host's own namespace); hosts named in no group
 *   keep talking to everyone. The name 'client' stands for the root
 *   namespace (the test process and its workload).
 * - oneWay: packets from one host to another are dropped; the reverse passes.
 * - loss: a share of the packets between two hosts is dropped at random
 *   (iptables statistic; this kernel has no netem).
 * - signalHost: SIGKILL, SIGSTOP or SIGCONT to every process in a host's
 *   namespace (by PID, from `ip netns pids`).
 * Every rule sits in the lab's own chain RLAB-IN / RLAB-OUT of each
 * namespace: heal() flushes them, and teardown deletes the namespaces.
 */
import { iptablesBin, ipBin, run, type LabNetwork } from './lab-network.js';

export const CLIENT = 'client';

export type Fault =
  | { kind: 'partition'; groups: string[][] }
  | { kind: 'one-way'; from: string; to: string }
  | { kind: 'loss'; a: string; b: string; probability: number };

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
  } else {
    if (!(f.probability > 0 && f.probability < 1)) throw new Error(`loss probability must be in (0, 1), got ${f.probability}`);
    for (const [x, y] of [[f.a, f.b], [f.b, f.a]] as const) if (x !== CLIENT) await dropIn(lab, x, ipOf(lab, y), f.probability);
  }
}

/** Removes every injected network fault (flushes RLAB-IN / RLAB-OUT in every namespace). */
export async function heal(lab: LabNetwork): Promise<void> {
  const ipt = iptablesBin();
  for (const h of lab.hosts) {
    for (const chain of ['RLAB-IN', 'RLAB-OUT']) await lab.exec(h.name, ipt, ['-F', chain]).catch(() => undefined);
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
  throw new Error('fault: partition <a,b> <c,d> [...] | one-way <from> <to> | loss <a> <b> <probability>');
}
