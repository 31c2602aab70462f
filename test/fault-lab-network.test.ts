/**
 * The fault lab's network on its own: two hosts as namespaces on a bridge, a
 * TCP server inside one of them (listening on its namespace address only),
 * and each fault seen from the client (the root namespace) and from the
 * other host: partition and heal, one-way drops, loss rules, bandwidth
 * limits (tc htb), SIGSTOP /
 * SIGCONT / SIGKILL of a host's processes; teardown leaves no namespace, no
 * bridge and no process behind. Needs root: without it the test fails saying so.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { waitUntil } from '../src/core/wait.js';
import { alive } from '../src/dr/pg-auto-failover.js';
import { CLIENT, heal, hostPids, injectFault, signalHost } from './lab/lab-faults.js';
import { createLabNetwork, iptablesBin, ipBin, LAB_RUN_DIR, requireRoot, type LabNetwork } from './lab/lab-network.js';

const PORT = 7000;

/** Whether a TCP connection to host:port gets the server's greeting within 1 s. */
function reaches(host: string, port = PORT): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.once('data', () => done(true));
    s.once('error', () => done(false));
  });
}

/** The same, from inside a lab host (a node one-liner run with ip netns exec). */
function reachesFrom(lab: LabNetwork, from: string, host: string): boolean {
  const js = `const s=require('net').connect(${PORT},'${host}');s.setTimeout(1000,()=>process.exit(1));s.on('data',()=>process.exit(0));s.on('error',()=>process.exit(1))`;
  const [file, ...args] = [...lab.wrap(from), process.execPath, '-e', js];
  return spawnSync(file!, args, { timeout: 10_000 }).status === 0;
}

describe('fault lab network', () => {
  let lab: LabNetwork | undefined;
  after(async () => { await lab?.destroy(); });

  it('partitions, one-way drops, loss, bandwidth limits, pauses and kills heal or go away, and teardown leaves nothing', async () => {
    requireRoot();
    lab = await createLabNetwork({ hosts: ['a', 'b'], prefix: `rlt-${process.pid % 100000}` });
    const b = lab.host('b').ip;
    for (const h of ['a', 'b']) {
      const ip = lab.host(h).ip;
      const [file, ...args] = [...lab.wrap(h), process.execPath, '-e', `require('net').createServer((s)=>s.end('hi')).listen(${PORT},'${ip}')`];
      spawn(file!, args, { stdio: 'ignore' }).unref();
      await waitUntil(`the server on ${h}`, () => reaches(ip), 20_000);
    }
    assert.equal(reachesFrom(lab, 'a', b), true, 'a reaches b');

    await injectFault(lab, { kind: 'partition', groups: [['a'], ['b']] });
    assert.equal(reachesFrom(lab, 'a', b), false, 'partitioned: a cannot reach b');
    assert.equal(await reaches(b), true, 'the client, in no group, still reaches b');
    await heal(lab);
    assert.equal(reachesFrom(lab, 'a', b), true, 'healed');

    await injectFault(lab, { kind: 'partition', groups: [[CLIENT], ['b']] });
    assert.equal(await reaches(b), false, 'the client cut from b');
    assert.equal(reachesFrom(lab, 'a', b), true, 'a still reaches b');
    await heal(lab);

    await injectFault(lab, { kind: 'one-way', from: 'a', to: 'b' });
    const rules = await lab.exec('b', iptablesBin(), ['-S', 'RLAB-IN']);
    assert.match(rules, new RegExp(`-s ${lab.host('a').ip.replace(/\./g, '\\.')}/32 -j DROP`));
    assert.equal(reachesFrom(lab, 'a', b), false, 'a to b dropped');
    await heal(lab);

    await injectFault(lab, { kind: 'loss', a: 'a', b: 'b', probability: 0.05 });
    for (const h of ['a', 'b']) assert.match(await lab.exec(h, iptablesBin(), ['-S', 'RLAB-IN']), /-m statistic --mode random --probability 0\.0(5|49999)\d* -j DROP/);
    await heal(lab);
    assert.doesNotMatch(await lab.exec('b', iptablesBin(), ['-S', 'RLAB-IN']), /DROP/, 'heal removes every rule');

    await injectFault(lab, { kind: 'bandwidth', a: 'a', b: 'b', kbit: 256 });
    const classes = await lab.exec('a', '/usr/sbin/tc', ['-s', 'class', 'show', 'dev', 'eth0']);
    assert.match(classes, /class htb 1:\w+ root .*rate 256Kbit ceil 256Kbit/, 'a class at the rate');
    assert.equal(reachesFrom(lab, 'a', b), true, 'shaped, a still reaches b');
    const sent = /Sent (\d+) bytes/.exec(await lab.exec('a', '/usr/sbin/tc', ['-s', 'class', 'show', 'dev', 'eth0']))?.[1];
    assert.ok(Number(sent) > 0, `a's packets to b went through the shaped class (sent ${sent} bytes)`);
    await heal(lab);
    for (const h of ['a', 'b']) assert.doesNotMatch(await lab.exec(h, '/usr/sbin/tc', ['qdisc', 'show', 'dev', 'eth0']), /htb/, 'heal removes the shaping');

    const pids = await hostPids(lab, 'b');
    assert.ok(pids.length >= 1);
    await signalHost(lab, 'b', 'SIGSTOP');
    assert.equal(await reaches(b), false, 'a paused server does not answer');
    await signalHost(lab, 'b', 'SIGCONT');
    assert.equal(await reaches(b), true, 'it answers again after SIGCONT');
    await signalHost(lab, 'b', 'SIGKILL');
    await waitUntil('b\'s processes to die', async () => pids.every((p) => !alive(p)), 10_000);

    const prefix = lab.prefix;
    const aPids = await hostPids(lab, 'a');
    await lab.destroy();
    const netns = spawnSync(ipBin(), ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(netns, new RegExp(`^${prefix}-`, 'm'), 'no namespace left');
    assert.notEqual(spawnSync(ipBin(), ['link', 'show', `${prefix}-br`]).status, 0, 'no bridge left');
    assert.ok(aPids.every((p) => !alive(p)), 'no process left');
    assert.equal(existsSync(`${LAB_RUN_DIR}/${prefix}.json`), false, 'no state file left');
  });
});
