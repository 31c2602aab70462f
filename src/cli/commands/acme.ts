/** `rampart acme eab create|list|revoke`: external account binding keys for ACME clients. */
import type { Command } from 'commander';
import { cliActor, out, withNode, withWritableNode, type GlobalOptions } from '../context.js';

export function registerAcme(program: Command, g: () => GlobalOptions): void {
  const acme = program.command('acme').description('ACME server administration');
  const eab = acme.command('eab').description('external account binding keys (RFC 8555 §7.3.4)');
  eab.command('create')
    .description('create a key id and HS256 MAC key for one ACME account (the MAC key is shown once)')
    .option('--description <text>', 'who or what the key is for', '')
    .action(async (o: { description: string }) => {
      if (o.description.length > 200) throw new Error('--description is at most 200 characters');
      await withWritableNode(g(), async (node) => {
        const k = await node.eab.create(o.description);
        await node.audit.record({ actor: cliActor().id, source: 'local', channel: 'cli', action: 'acme.eab.create', target: `eab:${k.kid}`, outcome: 'success', details: { description: o.description } });
        out(g(), { kid: k.kid, hmacKey: k.hmacKey, description: o.description },
          () => `EAB key id:  ${k.kid}\nMAC key (HS256, base64url, shown once):\n  ${k.hmacKey}\nlego: --eab --kid ${k.kid} --hmac ${k.hmacKey}\ncertbot: --eab-kid ${k.kid} --eab-hmac-key ${k.hmacKey}`);
      });
    });
  eab.command('list').action(async () => {
    await withNode(g(), async (node) => {
      const list = (await node.eab.list()).map((k) => ({ kid: k.kid, description: k.description, createdAt: k.createdAt.toISOString(), boundAccountId: k.boundAccountId, revokedAt: k.revokedAt?.toISOString() ?? null }));
      out(g(), { keys: list }, () => list.map((k) => `${k.kid}  ${k.revokedAt ? 'revoked' : k.boundAccountId ? `bound to ${k.boundAccountId}` : 'unused'}  ${k.description}`).join('\n') || 'no EAB keys');
    });
  });
  eab.command('revoke <kid>').description('revoke an unused key (a bound account stays valid)').action(async (kid: string) => {
    await withWritableNode(g(), async (node) => {
      const ok = await node.eab.revoke(kid);
      await node.audit.record({ actor: cliActor().id, source: 'local', channel: 'cli', action: 'acme.eab.revoke', target: `eab:${kid}`, outcome: ok ? 'success' : 'failure' });
      if (!ok) throw new Error(`no unrevoked EAB key ${kid}`);
      out(g(), { kid, revoked: true }, () => `EAB key ${kid} revoked`);
    });
  });
}
