/**
 * `rampart ssh ...` (issue 21): SSH CAs (created in the node's key backend),
 * issuing and revoking SSH certificates under SSH profiles, listing them, and
 * writing the files sshd and ssh take (CA public key, known_hosts line, KRL).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isKeyAlgorithm } from '../../keys/key-backend.js';
import { knownHostsLine, publicKeyLine } from '../../pki/ssh/ssh-keys.js';
import { sshCaView, sshCertificateView } from '../../http/api/ssh-routes.js';
import { cliActor, out, withNode, withWritableNode, type GlobalOptions } from '../context.js';
import { createSshCaInCeremony, type SshCaCeremonyResult } from '../../ca/ssh/ssh-ca-ceremony.js';
import { backupOptions, backupText, backupView, runBackupCeremony, withBackupPassphrases, type SharingOpts } from './backup-ceremony.js';

const collect = (v: string, prev: string[]) => [...prev, v];

function keyValue(v: string, prev: Record<string, string>): Record<string, string> {
  const i = v.indexOf('=');
  const [k, val] = i < 0 ? [v, ''] : [v.slice(0, i), v.slice(i + 1)];
  return { ...prev, [k]: val };
}

export function registerSsh(program: Command, g: () => GlobalOptions): void {
  const ssh = program.command('ssh').description('SSH certificate authority: CAs, user and host certificates, KRLs');
  const ca = ssh.command('ca').description('SSH CAs (their keys live in the node\'s key backend)');

  backupOptions(ca.command('create <name>')
    .description('create an SSH CA: a new key in the key backend (software, PKCS#11); back it up with `rampart key backup --ssh-ca <name>`, '
      + 'or create it with --backup: the key is made in memory, shared out to custodians first, then imported into every token of the pool')
    .requiredOption('--type <type>', 'user or host')
    .option('--algorithm <alg>', 'ed25519 or ecdsa-p256 (both in every key backend, PKCS#11 included)', 'ed25519')
    .option('--backup', 'creation ceremony: k-of-n Shamir backup (--threshold, --shares, --custodian, ...) made before the key enters the backend; '
      + 'needed for an Ed25519 CA in a PKCS#11 pool whose tokens cannot wrap Ed25519 keys'))
    .action(async (name: string, o: SharingOpts & { type: string; algorithm: string; backup?: boolean }) => {
      if (o.type !== 'user' && o.type !== 'host') throw new Error('--type must be user or host');
      if (!isKeyAlgorithm(o.algorithm)) throw new Error(`unknown key algorithm ${o.algorithm}`);
      const type = o.type;
      const algorithm = o.algorithm;
      if (!o.backup) {
        if (o.custodian.length || o.passphraseFile.length || o.sealWithPassphrases || o.print) throw new Error('--custodian, --print and the passphrase options go with --backup');
        await withWritableNode(g(), async (node) => {
          const { ca: rec, warnings } = await node.sshAuthority.createCa(name, type, algorithm, cliActor());
          for (const w of warnings) process.stderr.write(`rampart: WARNING: ${w}\n`);
          const v = sshCaView(rec);
          out(g(), { ...v, keyRef: rec.keyRef, warnings }, () => `SSH ${rec.type} CA ${rec.name} created (${rec.algorithm}, ${rec.keyBackend} key ${rec.keyRef})\n${v.fingerprint}\n${v.publicKey}`);
        });
        return;
      }
      await withBackupPassphrases(o, (passphrases) => withWritableNode(g(), async (node) => {
        let made: SshCaCeremonyResult | undefined;
        const done = await runBackupCeremony(node, g(), o, passphrases, `ssh:${name}`, 'Rampart SSH CA creation ceremony record', async (backup, sink, journal) => {
          made = await createSshCaInCeremony(node.sshAuthority, { name, type, algorithm, actor: cliActor(), backup }, sink, journal);
          return made.backup;
        });
        const rec = made!.ca;
        const v = sshCaView(rec);
        out(g(), { ...v, keyRef: rec.keyRef, provenIn: made!.provenIn, backup: backupView(done) }, () => [
          `SSH ${rec.type} CA ${rec.name} created in a ceremony (${rec.algorithm}, ${rec.keyBackend} key ${rec.keyRef}; test signature verified in ${made!.provenIn.join(', ')})`,
          v.fingerprint, v.publicKey, ...backupText(done, o),
        ].join('\n'));
      }));
    });

  ca.command('list').description('list the SSH CAs').action(async () => {
    await withNode(g(), async (node) => {
      const cas = (await node.sshAuthority.list()).map(sshCaView);
      out(g(), cas, () => (cas.length ? cas.map((c) => `${c.name}\t${c.type}\t${c.algorithm}\t${c.keyBackend}\t${c.fingerprint}`).join('\n') : 'no SSH CAs'));
    });
  });

  ca.command('pub <name>')
    .description('print the CA public key (for sshd TrustedUserCAKeys), or with --known-hosts an @cert-authority line')
    .option('--known-hosts <patterns>', 'host patterns, comma-separated (host CAs)')
    .action(async (name: string, o: { knownHosts?: string }) => {
      await withNode(g(), async (node) => {
        const rec = await node.sshAuthority.ca(name);
        const line = o.knownHosts ? knownHostsLine(rec.publicKey, o.knownHosts.split(','), `rampart-${rec.name}`) : publicKeyLine(rec.publicKey, `rampart-${rec.name}`);
        out(g(), { line }, () => line);
      });
    });

  ssh.command('issue')
    .description('issue an SSH certificate for a public key under an SSH profile')
    .requiredOption('--public-key <file>', 'the OpenSSH public key file (id_ed25519.pub, ssh_host_ed25519_key.pub)')
    .requiredOption('--profile <name>', 'SSH profile (ssh.profiles)')
    .requiredOption('--principal <name>', 'user or host name (repeatable)', collect, [])
    .option('--type <type>', 'user or host (default: the profile\'s)')
    .option('--key-id <id>', 'key ID (logged by sshd)')
    .option('--validity <seconds>', 'lifetime in seconds (within the profile maximum)', (v) => Number(v))
    .option('--option <name=value>', 'critical option, e.g. force-command=/usr/bin/id or source-address=10.0.0.0/8 (repeatable)', keyValue, {})
    .option('--extension <name>', 'extension, e.g. permit-pty (repeatable; none given: the profile\'s defaults)', collect, [])
    .option('--out <file>', 'write the certificate here (e.g. id_ed25519-cert.pub)')
    .action(async (o: { publicKey: string; profile: string; principal: string[]; type?: string; keyId?: string; validity?: number; option: Record<string, string>; extension: string[]; out?: string }) => {
      await withNode(g(), async (node) => {
        const type = o.type ?? node.config.ssh.profiles[o.profile]?.type ?? 'user';
        const rec = await node.sshIssuance.issue({
          publicKey: readFileSync(o.publicKey, 'utf8'), type, profile: o.profile, principals: o.principal, keyId: o.keyId, validitySeconds: o.validity,
          criticalOptions: o.option, ...(o.extension.length ? { extensions: o.extension } : {}),
        }, cliActor());
        const v = sshCertificateView(rec, node.clock.now(), true);
        if (o.out) writeFileSync(o.out, `${v.certificate}\n`);
        out(g(), v, () => `Issued SSH ${rec.type} certificate ${rec.serial} (key ID "${rec.keyId}") for ${rec.principals.join(', ')}, valid until ${rec.validBefore.toISOString()}${o.out ? `\nWrote ${o.out}` : `\n${v.certificate}`}`);
      });
    });

  ssh.command('revoke <serial>')
    .description('revoke an SSH certificate (decimal serial); the CA\'s KRL is republished')
    .action(async (serial: string) => {
      await withNode(g(), async (node) => {
        const rec = await node.sshIssuance.revoke(serial, cliActor());
        out(g(), sshCertificateView(rec, node.clock.now()), () => `Revoked SSH certificate ${rec.serial} (key ID "${rec.keyId}"); KRL of ${rec.caName} republished`);
      });
    });

  ssh.command('list')
    .description('list SSH certificates, newest first')
    .option('--ca <name>', 'SSH CA')
    .option('--status <status>', 'good, revoked or expired')
    .option('--search <text>', 'text in the serial, key ID or a principal')
    .option('--limit <n>', 'how many', (v) => Number(v), 100)
    .action(async (o: { ca?: string; status?: string; search?: string; limit: number }) => {
      if (o.status && !['good', 'revoked', 'expired'].includes(o.status)) throw new Error('--status must be good, revoked or expired');
      await withNode(g(), async (node) => {
        const now = node.clock.now();
        const page = await node.store.ssh.listSshCertificates({ caName: o.ca, status: o.status as 'good', search: o.search, limit: o.limit }, now);
        const items = page.items.map((c) => sshCertificateView(c, now));
        out(g(), items, () => (items.length ? items.map((c) => `${c.serial}\t${c.ca}\t${c.type}\t${c.status}\t${c.validBefore}\t"${c.keyId}"\t${c.principals.join(',')}`).join('\n') : 'no SSH certificates'));
      });
    });

  ssh.command('krl <ca>')
    .description('write the CA\'s current KRL (for sshd RevokedKeys) to --out')
    .requiredOption('--out <file>', 'where to write the KRL')
    .action(async (name: string, o: { out: string }) => {
      await withNode(g(), async (node) => {
        const krl = await node.sshAuthority.krl(name);
        writeFileSync(o.out, krl.krl);
        out(g(), { ca: name, version: krl.version, generatedAt: krl.generatedAt.toISOString(), file: o.out }, () => `KRL of ${name} (version ${krl.version}) written to ${o.out}`);
      });
    });
}
