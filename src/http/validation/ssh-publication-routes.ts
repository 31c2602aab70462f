/**
 * Public SSH CA files on the plain-HTTP validation listener, served by every
 * node from the shared database (like CRLs): GET /ssh/<ca>.pub (the line for
 * sshd's TrustedUserCAKeys), /ssh/<ca>.known_hosts (an @cert-authority line
 * for ssh's known_hosts) and /ssh/<ca>.krl (the OpenSSH KRL for sshd's
 * RevokedKeys). No authentication, nothing mutated but a stale KRL rebuilt.
 */
import type { FastifyInstance } from 'fastify';
import { SSH_CA_NAME, type SshAuthority } from '../../ca/ssh/ssh-authority.js';
import { knownHostsLine, publicKeyLine } from '../../pki/ssh/ssh-keys.js';
import { problemFor, sendProblem } from '../problem.js';

export interface SshPublicationRoutesOptions {
  authority: SshAuthority;
  knownHostsPatterns: () => string[];
}

export async function sshPublicationRoutes(app: FastifyInstance, o: SshPublicationRoutesOptions): Promise<void> {
  app.get<{ Params: { file: string } }>('/ssh/:file', async (req, reply) => {
    const m = /^(.+)\.(pub|krl|known_hosts)$/.exec(req.params.file);
    const ca = m && SSH_CA_NAME.test(m[1]!) ? await o.authority.find(m[1]!) : undefined;
    if (!m || !ca) return sendProblem(reply, problemFor('notFound', `no SSH CA file at ${req.url}`));
    const comment = `rampart-ssh-${ca.type}-ca-${ca.name}`;
    reply.header('cache-control', 'max-age=60');
    if (m[2] === 'pub') return reply.type('text/plain; charset=utf-8').send(`${publicKeyLine(ca.publicKey, comment)}\n`);
    if (m[2] === 'known_hosts') {
      if (ca.type !== 'host') return sendProblem(reply, problemFor('notFound', `${ca.name} is a user CA: known_hosts trusts host CAs`));
      return reply.type('text/plain; charset=utf-8').send(`${knownHostsLine(ca.publicKey, o.knownHostsPatterns(), comment)}\n`);
    }
    const krl = await o.authority.krl(ca.name);
    return reply.type('application/octet-stream').header('last-modified', krl.generatedAt.toUTCString()).send(Buffer.from(krl.krl));
  });
}
