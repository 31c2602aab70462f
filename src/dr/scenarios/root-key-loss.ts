/**
 * root-key-loss: the catastrophic path, in the drill's own directory. A
 * fresh SQLite node with ACME; several lego accounts (lego 4.35.2 from
 * Debian sid, ARI-aware) hold certificates; their timer (`lego renew`, as
 * cron or a systemd timer runs it) fires once and keeps them: nothing is
 * due; the root key is destroyed; `rampart pki rebuild` makes a new root
 * and intermediate and starts the re-issuance campaign; the same timers
 * fire until lego itself, asking renewal information (RFC 9773), renews
 * every certificate from the new hierarchy (it says so in its log) and none
 * relies on the old one; then the campaign is finished (the old hierarchy
 * revoked).
 *
 * Recovery time runs from the loss of the key to the moment the last client
 * holds a certificate of the new hierarchy. Data loss is 0: every certificate
 * of the old hierarchy is in the campaign (checked).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sleep } from '../../core/wait.js';
import { freeLoopbackPort } from '../../core/free-port.js';
import { heldCertificate, legoTimerTick, type TimerTick } from '../lego-timer.js';
import { ensureLego, legoCertFile, type LegoAccount, type LegoEndpoint } from '../lego-client.js';
import { rampartJson, startServe } from '../rampart-process.js';
import { DrillUnavailableError, type DrillScenario } from '../drill-scenario.js';
import { httpCall } from '../../core/http-client.js';

const CLIENTS = 3;
/** Bounded: the node picks the campaign up within 30 s; each client's timer fires every 2 s. */
const MAX_ROUNDS = 120;
/** What lego logs when renewal information (and not its own 30-days rule) makes it renew. */
export const ARI_RENEWAL = /renewalInfo endpoint indicates that renewal is needed/;

function pemCerts(file: string): X509Certificate[] {
  return pemsOf(readFileSync(file, 'utf8'));
}

function pemsOf(text: string): X509Certificate[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

/** Whether the client's leaf and chain verify up to `root` (signatures and issuer names). */
function chainsTo(a: LegoAccount, root: X509Certificate): boolean {
  const [leaf, ...rest] = pemCerts(legoCertFile(a));
  let cur: X509Certificate | undefined = leaf;
  for (let i = 0; cur && i < 5; i++) {
    if (cur.checkIssued(root) && cur.verify(root.publicKey)) return true;
    const at: X509Certificate = cur;
    cur = rest.find((c) => at.checkIssued(c) && at.verify(c.publicKey));
  }
  return false;
}

function findKeyFiles(dir: string, name: RegExp, depth = 3): string[] {
  if (depth < 0 || !existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isFile() && name.test(e.name) ? [join(dir, e.name)] : e.isDirectory() ? findKeyFiles(join(dir, e.name), name, depth - 1) : []));
}

export const rootKeyLoss: DrillScenario = {
  name: 'root-key-loss',
  summary: 'ARI-aware lego clients (4.35, Debian sid) hold certificates; the root key is destroyed; pki rebuild; their own `lego renew` moves them to the new root through ARI alone; the old hierarchy is revoked and unpublished',
  async run(ctx) {
    try {
      ensureLego();
    } catch (e) {
      throw new DrillUnavailableError(`the drill runs real ARI-aware ACME clients: ${(e as Error).message}`);
    }
    const passphrase = randomBytes(24).toString('base64url');
    const httpPort = await freeLoopbackPort();
    const env = {
      RAMPART_KEY_PASSPHRASE: passphrase, RAMPART_ACME__ENABLED: 'true', RAMPART_ACME__VALIDATION__CONNECT_ADDRESS: '127.0.0.1',
      RAMPART_ACME__VALIDATION__HTTP_PORT: String(httpPort), RAMPART_ACME__VALIDATION__TLS_PORT: String(await freeLoopbackPort()),
    };
    const dataDir = join(ctx.env.dir('node'), 'data');
    const node = await ctx.step('start a node with ACME (SQLite)', () => startServe(ctx.env, { name: 'node', dataDir, env }), (n) => n.httpsUrl);
    const clientsDir = ctx.env.dir('clients');
    const bundle = (await httpCall<string>(`${node.httpUrl}/ca/bundle.pem`)).raw.toString();
    const caFile = join(clientsDir, 'bundle.pem');
    writeFileSync(caFile, bundle);
    const oldRoot = pemCerts(caFile).find((c) => c.issuer === c.subject)!;
    const endpoint: LegoEndpoint = { directory: `${node.httpsUrl}/acme/directory`, caFile, httpPort };
    const track = (pid: number, live: boolean) => (live ? ctx.env.trackPid(pid) : ctx.env.untrackPid(pid));
    const accounts: LegoAccount[] = Array.from({ length: CLIENTS }, (_, i) => ({
      name: `client-${i + 1}`, path: join(clientsDir, `lego-${i + 1}`), domain: `client-${i + 1}.drill.rampart.invalid`, email: `client-${i + 1}@drill.rampart.invalid`,
    }));
    await ctx.step(`${CLIENTS} lego accounts obtain certificates (http-01)`, async () => {
      for (const a of accounts) await legoTimerTick(a, endpoint, { track });
      return accounts.map((a) => heldCertificate(a).serialNumber.toLowerCase());
    }, (s) => s.join(' '));
    await ctx.step('each client\'s timer fires (lego renew): nothing is due, every certificate is kept', async () => {
      const ticks: TimerTick[] = [];
      for (const a of accounts) ticks.push(await legoTimerTick(a, endpoint, { track }));
      const renewed = ticks.filter((t) => t.action !== 'kept');
      if (renewed.length) throw new Error(`lego renewed before any campaign: ${renewed.map((t) => `${t.account}: ${t.lego.output.slice(-500)}`).join('; ')}`);
      return ticks.length;
    }, (n) => `${n} of ${accounts.length} kept their certificate (lego: renewal not needed)`);

    ctx.faultAt();
    const lost = await ctx.step('destroy the root key', async () => {
      const root = (await rampartJson<{ issuers: Array<{ id: string }> }>(ctx.env, dataDir, ['ca', '--root'], { env })).issuers[0]!;
      const files = findKeyFiles(dataDir, /^root-[0-9a-f]{8}\.key\.json$/);
      for (const f of files) rmSync(f);
      return { root: root.id, files };
    }, (l) => `root ${l.root}: ${l.files.length ? `${l.files.length} key file(s) removed` : 'key kept in the database key store, no longer used'}`);
    ctx.note(`root ${lost.root} lost${lost.files.length ? ` (removed ${lost.files.join(', ')})` : ''}`);

    const rebuilt = await ctx.step('rampart pki rebuild (new root and intermediate, campaign started)', () => rampartJson<{ root: { id: string; subject: string }; campaign: { id: string; total: number } }>(
      ctx.env, dataDir, ['pki', 'rebuild', '--trust-bundle-out', join(clientsDir, 'new-trust.pem')], { env },
    ), (r) => `new root ${r.root.id}; campaign ${r.campaign.id} with ${r.campaign.total} certificate(s)`);
    const newRoot = pemCerts(join(clientsDir, 'new-trust.pem')).find((c) => c.issuer === c.subject)!;

    await ctx.step('the same timers fire until lego renews on renewal information alone; every client chains to the new root', async () => {
      const moved = new Set<string>();
      for (let round = 0; round < MAX_ROUNDS && moved.size < accounts.length; round++) {
        for (const a of accounts) {
          if (moved.has(a.name)) continue;
          const t = await legoTimerTick(a, endpoint, { track });
          if (t.action === 'renewed') {
            if (!chainsTo(a, newRoot)) throw new Error(`${a.name} renewed but its certificate does not chain to the new root`);
            if (!ARI_RENEWAL.test(t.lego.output)) throw new Error(`${a.name} renewed, but lego does not say renewal information asked for it: ${t.lego.output.slice(-1000)}`);
            moved.add(a.name);
            ctx.progress(`${a.name} renewed through ARI (${moved.size}/${accounts.length})`);
          }
        }
        if (moved.size < accounts.length) await sleep(2000);
      }
      if (moved.size < accounts.length) throw new Error(`only ${moved.size} of ${accounts.length} clients moved to the new root`);
      const stale = accounts.filter((a) => chainsTo(a, oldRoot));
      if (stale.length) throw new Error(`${stale.map((a) => a.name).join(', ')} still chain to the old root`);
      return moved.size;
    }, (n) => `${n} of ${accounts.length} clients hold certificates of the new root; none chains to the old one`);
    ctx.recovered();

    const status = await ctx.step('campaign progress (rampart pki campaign status)', () => rampartJson<{ total: number; reissued: number; outstanding: number; byChannel: Record<string, { total: number; replaced: number }> }>(
      ctx.env, dataDir, ['pki', 'campaign', 'status', '--reconcile'], { env },
    ), (s) => `${s.reissued} of ${s.total} re-issued, ${s.outstanding} outstanding (acme ${s.byChannel.acme?.replaced}/${s.byChannel.acme?.total})`);
    if ((status.byChannel.acme?.replaced ?? 0) !== CLIENTS) throw new Error(`the campaign counts ${status.byChannel.acme?.replaced} ACME certificates re-issued, not ${CLIENTS}`);
    if (rebuilt.campaign.total < CLIENTS) throw new Error(`the campaign lists ${rebuilt.campaign.total} certificates, fewer than the ${CLIENTS} clients hold`);
    // Without --force: every client moved; the node's own TLS certificate (still of the old hierarchy on purpose) does not hold it back.
    await ctx.step('finish the campaign: revoke the old hierarchy', () => rampartJson<{ revoked: number; note: string }>(ctx.env, dataDir, ['pki', 'campaign', 'finish'], { env }), (r) => r.note);
    await ctx.step('the published trust bundle drops the old root', async () => {
      // The node reloads the campaign every 30 s.
      for (let i = 0; i < 60; i++) {
        const roots = pemsOf((await httpCall<string>(`${node.httpUrl}/ca/bundle.pem`)).raw.toString()).filter((c) => c.issuer === c.subject);
        if (roots.length === 1 && roots[0]!.fingerprint256 === newRoot.fingerprint256) return roots.length;
        await sleep(1000);
      }
      throw new Error(`${node.httpUrl}/ca/bundle.pem still lists the old root a minute after the finish`);
    }, () => 'only the new root is published');
    ctx.dataLoss(0);
    await node.stop();
  },
};
