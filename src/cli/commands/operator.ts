/** `rampart operator add|list|remove|token` and `rampart token rotate` (src/auth/operators.ts). */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { writeFileSync } from 'node:fs';
import { issueOperatorClientCert, MAX_CLIENT_CERT_HOURS } from '../../auth/operator-certs.js';
import { TOKEN_ROLES } from '../../auth/tokens.js';
import type { TokenRole } from '../../core/types.js';
import { cliActor, out, withNode, withWritableNode, type GlobalOptions } from '../context.js';

const intIn = (min: number, max: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}..${max}`);
  return n;
};

export function registerOperator(program: Command, g: () => GlobalOptions): void {
  const op = program.command('operator').description('operators: people or systems with a role, owning API tokens');
  op.command('add <name>').description('provision an operator')
    .requiredOption('--role <role>', TOKEN_ROLES.join(' | '))
    .action(async (name: string, o: { role: string }) => {
      if (!TOKEN_ROLES.includes(o.role as TokenRole)) throw new Error(`--role must be one of ${TOKEN_ROLES.join(', ')}`);
      await withWritableNode(g(), async (node) => {
        const rec = await node.operators.add(name, o.role as TokenRole);
        const a = cliActor();
        await node.audit.record({ actor: a.id, source: a.source, channel: a.channel, action: 'operator.create', target: `operator:${rec.name}`, outcome: 'success', details: { role: rec.role } });
        out(g(), { id: rec.id, name: rec.name, role: rec.role }, () => `operator ${rec.name} (${rec.role}) provisioned`);
      });
    });
  op.command('list').description('operators and whether they are active').action(async () => {
    await withNode(g(), async (node) => {
      const ops = (await node.operators.list()).map((x) => ({ id: x.id, name: x.name, role: x.role, createdAt: x.createdAt.toISOString(), disabledAt: x.disabledAt?.toISOString() ?? null }));
      out(g(), { operators: ops }, () => ops.map((x) => `${x.name.padEnd(24)} ${x.role.padEnd(10)} ${x.disabledAt ? `deprovisioned ${x.disabledAt}` : 'active'}`).join('\n') || '(no operators)');
    });
  });
  op.command('remove <name>').description("deprovision an operator: every token it holds stops working at once, on every node")
    .action(async (name: string) => {
      await withWritableNode(g(), async (node) => {
        const r = await node.operators.remove(name);
        const a = cliActor();
        await node.audit.record({ actor: a.id, source: a.source, channel: a.channel, action: 'operator.deprovision', target: `operator:${name}`, outcome: 'success', details: { revokedTokens: r.revokedTokens } });
        out(g(), { name, revokedTokens: r.revokedTokens }, () => `operator ${name} deprovisioned; ${r.revokedTokens} token(s) revoked`);
      });
    });
  registerOperatorCert(op, g);
  op.command('token <name>').description("a token for the operator, with the operator's role (shown once, stored hashed)")
    .option('--days <n>', 'expires after this many days', intIn(1, 3650))
    .action(async (name: string, o: { days?: number }) => {
      await withWritableNode(g(), async (node) => {
        const exp = o.days ? new Date(node.clock.now().getTime() + o.days * 86_400_000) : null;
        const { token, record } = await node.operators.issueToken(name, exp);
        const a = cliActor();
        await node.audit.record({ actor: a.id, source: a.source, channel: a.channel, action: 'token.create', target: `token:${record.id}`, outcome: 'success', details: { operator: name, role: record.role } });
        out(g(), { id: record.id, role: record.role, token, expiresAt: exp?.toISOString() ?? null }, () => `Token ${record.id} for ${name} (${record.role}), shown once:\n${token}`);
      });
    });
}

export function registerOperatorCert(op: Command, g: () => GlobalOptions): void {
  op.command('cert <name>').description('a short-lived client certificate for mutual-TLS login to the REST API as this operator (with its role)')
    .option('--hours <n>', `lifetime in hours (1..${MAX_CLIENT_CERT_HOURS})`, intIn(1, MAX_CLIENT_CERT_HOURS), 24)
    .requiredOption('--out <prefix>', 'writes <prefix>.pem (certificate and chain) and <prefix>.key (private key, mode 0600)')
    .action(async (name: string, o: { hours: number; out: string }) => {
      await withWritableNode(g(), async (node) => {
        const operator = await node.operators.get(name);
        const c = await issueOperatorClientCert({ operator, hours: o.hours, ca: node.ca, store: node.store, clock: node.clock, audit: node.audit, actor: cliActor() });
        writeFileSync(`${o.out}.pem`, c.certPem);
        writeFileSync(`${o.out}.key`, c.keyPem, { mode: 0o600 });
        out(g(), { serial: c.serial, notAfter: c.notAfter.toISOString(), cert: `${o.out}.pem`, key: `${o.out}.key` },
          () => `client certificate ${c.serial} for ${name}, valid until ${c.notAfter.toISOString()}: ${o.out}.pem, ${o.out}.key`);
      });
    });
}

export function registerTokenRotate(token: Command, g: () => GlobalOptions): void {
  token.command('rotate <id>').description('a new token with the same name, role, operator and lifetime; the old one stops after the grace period')
    .option('--grace-seconds <n>', 'how long the old token keeps working', intIn(0, 604_800), 0)
    .action(async (id: string, o: { graceSeconds: number }) => {
      await withWritableNode(g(), async (node) => {
        const r = await node.tokens.rotate(id, o.graceSeconds);
        const a = cliActor();
        await node.audit.record({ actor: a.id, source: a.source, channel: a.channel, action: 'token.rotate', target: `token:${id}`, outcome: 'success', details: { newToken: r.record.id, oldRevokedAt: r.oldRevokedAt.toISOString() } });
        out(g(), { id: r.record.id, token: r.token, oldRevokedAt: r.oldRevokedAt.toISOString() }, () => `Token ${r.record.id} replaces ${id} (which stops at ${r.oldRevokedAt.toISOString()}), shown once:\n${r.token}`);
      });
    });
}
