/**
 * The end of a re-issuance campaign at its deadline, run on its own
 * (`node --import tsx bench/campaign-finish-bench.ts [count] [batch...]`; not
 * part of `npm run bench` or `npm test`): an in-process node on a temporary
 * SQLite data directory (manual clock), `count` certificates of the old
 * intermediate, `pki rebuild` (root loss), a campaign whose deadline has
 * passed, then `finishIfDue` with each batch size in turn (a fresh campaign
 * each time). Prints per batch size the revocations per second and the
 * main thread's event-loop delay while it ran (monitorEventLoopDelay): what
 * an OCSP request arriving meanwhile would wait. Batch 1 is the old
 * one-at-a-time finish.
 */
import { generateKeyPairSync } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { rebuildHierarchy } from '../src/ca/rebuild/hierarchy-rebuild.js';
import { loadConfig } from '../src/config/load.js';
import type { Actor } from '../src/core/actor.js';
import { ManualClock } from '../src/core/clock.js';
import { bootstrapNode } from '../src/main/first-run.js';
import { RampartNode } from '../src/main/node.js';
import { parseDn } from '../src/pki/names.js';
import { machine, round } from './bench-util.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DAY = 86_400_000;
const actor: Actor = { id: 'bench', role: 'admin', source: 'local', channel: 'cli' };

async function run(count: number, batches: number[]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-bench-campaign-'));
  const clock = new ManualClock(Date.UTC(2027, 2, 1));
  const node = await RampartNode.open({ config: loadConfig({ overrides: { dataDir }, env: {} }), clock, createSecret: true, env: {}, logger: pino({ level: 'silent' }) });
  try {
    await bootstrapNode(node);
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' }));
    const h = node.config.hierarchy;
    for (const batch of batches) {
      for (let i = 0; i < count; i++) {
        const name = `h${i}.b${batch}.bench.test`;
        const now = clock.now();
        const notBefore = new Date(now.getTime() - 60_000);
        const notAfter = new Date(now.getTime() + 30 * DAY);
        const s = await node.ca.signLeaf({
          subjectName: parseDn(`CN=${name}`), spki, san: { dns: [name] }, keyUsage: ['digitalSignature'], extKeyUsage: ['1.3.6.1.5.5.7.3.1'], notBefore, notAfter, policies: ['2.23.140.1.2.1'],
        });
        await node.store.insertCertificate({
          serial: s.serial, issuerId: s.issuer.id, profile: 'server', subject: `CN=${name}`, sans: [name], notBefore, notAfter, der: s.der,
          status: 'good', revokedAt: null, revocationReason: null, createdAt: now, requester: `token:bench-${i}`,
        });
      }
      const r = await rebuildHierarchy({ ca: node.ca, keys: node.keys, store: node.store, clock, urls: node.urls, lifecycle: node.issuers, ekus: h.intermediate.ekus, policies: h.intermediate.policies }, {
        kind: 'root-loss', algorithm: 'ecdsa-p256', rootDays: h.root.validityDays, intermediateDays: h.intermediate.validityDays, ekus: h.intermediate.ekus, policies: h.intermediate.policies,
      }, actor);
      await node.campaigns.start({ kind: 'root-loss', oldIssuers: r.oldIssuers, newIssuers: r.newIssuers, deadline: new Date(clock.now().getTime() + 1000), actor });
      clock.advance(60_000);
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const t0 = performance.now();
      const fin = await node.campaigns.finishIfDue({ batch });
      const seconds = (performance.now() - t0) / 1000;
      delay.disable();
      console.log(JSON.stringify({
        count, batch, revoked: fin?.revoked, seconds: round(seconds, 2), perSecond: Math.round((fin?.revoked ?? 0) / seconds),
        loopDelayP99Ms: round(delay.percentile(99) / 1e6, 1), loopDelayMaxMs: round(delay.max / 1e6, 1),
      }));
    }
    console.log(JSON.stringify({ machine: machine() }));
  } finally {
    await node.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const [count = '3000', ...batches] = process.argv.slice(2);
await run(Number(count), batches.length ? batches.map(Number) : [1, 25, 100]);
