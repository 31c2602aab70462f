/** `rampart crl`, `token create|list|revoke`, `status`, `audit verify`. */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { TOKEN_ROLES } from '../../auth/tokens.js';
import { registerTokenRotate } from './operator.js';
import type { TokenRole } from '../../core/types.js';
import { nodeStatus, nodeUrls } from '../../http/servers.js';
import { toPem } from '../../pki/certificate-builder.js';
import { cliActor, out, withNode, withWritableNode, type GlobalOptions } from '../context.js';

export function registerAdmin(program: Command, g: () => GlobalOptions): void {
  program.command('crl')
    .description('generate (default) or show the CRL of each CA; --out writes the issuing CA\'s CRL')
    .option('--issuer <id>', 'only this CA')
    .option('--show', 'show the current CRL instead of generating a new one')
    .option('--out <file>', 'write the CRL (DER; PEM when the name ends in .pem)')
    .action(async (o: { issuer?: string; show?: boolean; out?: string }) => {
      await withNode(g(), async (node) => {
        // Without --issuer: every CA whose key is on this node (an offline root's CRL comes from `rampart root crl`).
        const ids = o.issuer ? [o.issuer] : (await Promise.all(node.ca.cas().map(async (c) => ((await node.ca.hasKey(c)) ? c.id : null)))).filter((id): id is string => id !== null);
        const results = [];
        for (const id of ids) {
          if (!node.ca.get(id)) throw new Error(`no CA with id ${id}`);
          const rec = o.show ? await node.crl.current(id) : await node.crl.generate(id);
          if (!rec) continue;
          if (!o.show) await node.audit.record({ actor: cliActor().id, source: 'local', channel: 'cli', action: 'crl.generate', target: `issuer:${id}`, outcome: 'success', details: { number: rec.number.toString() } });
          results.push(rec);
        }
        // Then the shard CRLs of the same issuers (listed after every complete CRL).
        if (!o.show) for (const id of ids) results.push(...await node.crl.generateShards(id));
        if (o.out) {
          const pick = results.find((r) => r.issuerId === (o.issuer ?? node.ca.active().id)) ?? results[0];
          if (pick) writeFileSync(o.out, o.out.endsWith('.pem') ? toPem(pick.der, 'X509 CRL') : Buffer.from(pick.der));
        }
        const view = results.map((r) => ({ issuerId: r.issuerId, number: r.number.toString(), entries: r.entries, thisUpdate: r.thisUpdate.toISOString(), nextUpdate: r.nextUpdate.toISOString(), shard: r.shard ?? null, url: r.shard === undefined || r.shard === null ? node.urls.crl(r.issuerId) : node.urls.crlShard(r.issuerId, r.shard) }));
        out(g(), { crls: view }, () => view.map((v) => `${v.issuerId}${v.shard === null ? '' : ` shard ${v.shard}`}: CRL #${v.number}, ${v.entries} entries, next update ${v.nextUpdate}  ${v.url}`).join('\n'));
      });
    });

  const token = program.command('token').description('API tokens');
  registerTokenRotate(token, g);
  token.command('create')
    .requiredOption('--role <role>', `one of ${TOKEN_ROLES.join(', ')}`)
    .option('--name <name>', 'a label for the token', 'cli')
    .option('--expires-days <n>', 'expiry in days (default: none)', (v) => Number(v))
    .action(async (o: { role: string; name: string; expiresDays?: number }) => {
      if (!TOKEN_ROLES.includes(o.role as TokenRole)) throw new Error(`--role must be one of ${TOKEN_ROLES.join(', ')}`);
      if (o.expiresDays !== undefined && !(Number.isInteger(o.expiresDays) && o.expiresDays > 0 && o.expiresDays <= 3650)) throw new Error('--expires-days must be 1..3650');
      await withWritableNode(g(), async (node) => {
        const exp = o.expiresDays ? new Date(node.clock.now().getTime() + o.expiresDays * 86_400_000) : null;
        const { token: t, record } = await node.tokens.create(o.name, o.role as TokenRole, exp);
        await node.audit.record({ actor: cliActor().id, source: 'local', channel: 'cli', action: 'token.create', target: `token:${record.id}`, outcome: 'success', details: { name: o.name, role: o.role } });
        out(g(), { id: record.id, role: record.role, token: t, expiresAt: exp?.toISOString() ?? null }, () => `Token ${record.id} (${record.role}), shown once:\n${t}`);
      });
    });
  token.command('list').action(async () => {
    await withNode(g(), async (node) => {
      const list = (await node.tokens.list()).map((t) => ({ id: t.id, name: t.name, role: t.role, createdAt: t.createdAt.toISOString(), expiresAt: t.expiresAt?.toISOString() ?? null, revokedAt: t.revokedAt?.toISOString() ?? null }));
      out(g(), { tokens: list }, () => list.map((t) => `${t.id}  ${t.role.padEnd(8)}  ${t.name}  ${t.revokedAt ? 'revoked' : t.expiresAt ? `expires ${t.expiresAt}` : 'no expiry'}`).join('\n'));
    });
  });
  token.command('revoke <id>').action(async (id: string) => {
    await withWritableNode(g(), async (node) => {
      const ok = await node.store.revokeToken(id, node.clock.now());
      await node.audit.record({ actor: cliActor().id, source: 'local', channel: 'cli', action: 'token.revoke', target: `token:${id}`, outcome: ok ? 'success' : 'failure' });
      if (!ok) throw new Error(`no active token ${id}`);
      out(g(), { id, revoked: true }, () => `Token ${id} revoked`);
    });
  });

  program.command('status')
    .description('the node\'s URLs, issuers, inventory counts and health')
    .action(async () => {
      await withNode(g(), async (node) => {
        const s = await nodeStatus(node, nodeUrls(node));
        const h = s.health as { status: string; checks: Record<string, { status: string; detail: string }> };
        const urls = s.urls as ReturnType<typeof nodeUrls>;
        out(g(), s, () => [
          `health: ${h.status}`,
          ...Object.entries(h.checks).map(([k, c]) => `  ${k.padEnd(11)} ${c.status.padEnd(4)} ${c.detail}`),
          `api:    ${urls.api}`, `ocsp:   ${urls.ocsp}`, ...Object.values(urls.crl).map((u) => `crl:    ${u}`),
          `root fingerprint: SHA256 ${String(s.rootFingerprintSha256)}`,
          `certificates: ${JSON.stringify(s.certificates)}`,
        ].join('\n'));
      });
    });

  const audit = program.command('audit').description('the hash-chained audit log');
  audit.command('verify').action(async () => {
    await withNode(g(), async (node) => {
      const v = await node.audit.verify();
      out(g(), v, () => (v.ok ? `audit chain OK: ${v.entries} entries, head ${v.headHash}` : `audit chain BROKEN at entry ${v.problem!.seq}: ${v.problem!.reason}`));
      if (!v.ok) process.exitCode = 3;
    });
  });
}
