/**
 * The fault lab by hand (docs/runbooks/fault-lab.md), as root:
 *
 *   node --import tsx test/lab/cli.ts up [--prefix P] [--active-active]   # active-passive lab unless told; stays up until Ctrl-C / SIGTERM
 *   node --import tsx test/lab/cli.ts status
 *   node --import tsx test/lab/cli.ts fault P partition n1 pg,n2   # groups: comma-separated hosts; 'client' = this host
 *   node --import tsx test/lab/cli.ts fault P one-way n1 pg
 *   node --import tsx test/lab/cli.ts fault P loss n1 pg 0.05
 *   node --import tsx test/lab/cli.ts fault P bandwidth n1 pg 256  # kbit/s, both ways (tc htb)
 *   node --import tsx test/lab/cli.ts signal P n1 kill|stop|cont   # every process on that host, by PID
 *   node --import tsx test/lab/cli.ts heal P
 *   node --import tsx test/lab/cli.ts down P                  # also cleans a lab left by a crashed run
 */
import { startClusterLab } from './cluster-lab.js';
import { heal, injectFault, parseFault, signalHost } from './lab-faults.js';
import { destroyLabSync, labNetwork, listLabStates, readLabState, requireRoot } from './lab-network.js';
import { alive } from '../../src/dr/pg-auto-failover.js';

const SIGNALS = { kill: 'SIGKILL', stop: 'SIGSTOP', cont: 'SIGCONT' } as const;

function lab(prefix: string | undefined) {
  if (!prefix) throw new Error('give the lab prefix (see `status`)');
  const state = readLabState(prefix);
  if (!state) throw new Error(`no lab "${prefix}" (see \`status\`)`);
  return labNetwork(state);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  requireRoot();
  switch (cmd) {
    case 'up': {
      const i = rest.indexOf('--prefix');
      const l = await startClusterLab({ prefix: i >= 0 ? rest[i + 1] : undefined, mode: rest.includes('--active-active') ? 'active-active' : 'active-passive', log: (s) => console.log(s) });
      console.log(JSON.stringify({
        prefix: l.net.prefix, mode: l.mode, client: l.net.clientIp, hosts: l.net.hosts, api: l.apiUrl, validation: l.validationUrl,
        nodes: l.nodes.map((n) => ({ id: n.id, http: n.httpUrl, https: n.proc.httpsUrl })), postgres: l.pg.address, token: l.token, dir: l.dir,
      }, null, 2));
      console.log(`up; Ctrl-C (or \`cli.ts down ${l.net.prefix}\`) tears it down`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
        // Bounded: a forgotten lab goes away after 4 hours.
        setTimeout(resolve, 4 * 3600_000).unref();
        setInterval(() => {}, 60_000);
      });
      await l.close();
      console.log('down');
      process.exit(0);
      break;
    }
    case 'status':
      for (const s of listLabStates()) console.log(`${s.prefix}  owner ${s.ownerPid} (${alive(s.ownerPid) ? 'running' : 'gone'})  ${s.subnet}.0/24  ${s.hosts.map((h) => `${h.name}=${h.ip}`).join(' ')}`);
      break;
    case 'fault':
      await injectFault(lab(rest[0]), parseFault(rest.slice(1)));
      break;
    case 'heal':
      await heal(lab(rest[0]));
      break;
    case 'signal': {
      const sig = SIGNALS[rest[2] as keyof typeof SIGNALS];
      if (!sig || !rest[1]) throw new Error('signal <prefix> <host> kill|stop|cont');
      console.log(`sent ${sig} to ${(await signalHost(lab(rest[0]), rest[1], sig)).join(' ') || 'no process'}`);
      break;
    }
    case 'down': {
      if (!rest[0]) throw new Error('down <prefix>');
      const s = readLabState(rest[0]);
      if (s && s.ownerPid !== process.pid && alive(s.ownerPid)) {
        process.kill(s.ownerPid, 'SIGTERM');
        for (let i = 0; i < 100 && alive(s.ownerPid); i++) await new Promise((r) => setTimeout(r, 100));
      }
      destroyLabSync(rest[0]);
      break;
    }
    default:
      throw new Error('usage: cli.ts up [--prefix P] | status | fault P <partition|one-way|loss|bandwidth> ... | signal P <host> kill|stop|cont | heal P | down P');
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
