/**
 * OpenSSH certificates (PROTOCOL.certkeys, *-cert-v01@openssh.com), encoded
 * with the SSH wire writer and signed by a CA Signer (the key stays in its
 * backend). sshpk's createCertificate cannot take critical options or
 * choose extensions, so the encoding is done here.
 */
import { randomBytes } from 'node:crypto';
import type { Signer } from '../../core/signing.js';
import { blobKeyType, sshBlobFromSpki, sshSign } from './ssh-keys.js';
import { SshReader, SshWriter, concatBytes } from './ssh-wire.js';

export const SSH_CERT_TYPES = { user: 1, host: 2 } as const;
export type SshCertType = keyof typeof SSH_CERT_TYPES;

/** Critical options OpenSSH knows (user certificates only); each but verify-required carries a value. */
export const SSH_CRITICAL_OPTIONS = ['force-command', 'source-address', 'verify-required'] as const;
export type SshCriticalOption = (typeof SSH_CRITICAL_OPTIONS)[number];
/** Extensions OpenSSH knows (user certificates only); flags without a value. */
export const SSH_EXTENSIONS = ['no-touch-required', 'permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty', 'permit-user-rc'] as const;
export type SshExtension = (typeof SSH_EXTENSIONS)[number];

export interface SshCertificateInput {
  /** The subject's public key blob (RFC 4253). */
  publicKey: Uint8Array;
  serial: bigint;
  type: SshCertType;
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  criticalOptions: Partial<Record<SshCriticalOption, string>>;
  extensions: SshExtension[];
}

const CERT_TYPE_OF_KEY: Record<string, string> = {
  'ssh-ed25519': 'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256': 'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384': 'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521': 'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'ssh-rsa': 'ssh-rsa-cert-v01@openssh.com',
};

const seconds = (d: Date): bigint => BigInt(Math.floor(d.getTime() / 1000));

/** Options and extensions: (string name, string data) pairs sorted by name; a value is itself packed as a string. */
function optionList(entries: Array<[string, string | null]>): Uint8Array {
  const w = new SshWriter();
  for (const [name, value] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    w.string(name).string(value === null || value === '' ? new Uint8Array(0) : new SshWriter().string(value).bytes());
  }
  return w.bytes();
}

/** Encodes and signs one certificate; returns its blob (the base64 of a -cert.pub file). */
export async function signSshCertificate(ca: Signer, c: SshCertificateInput): Promise<Uint8Array> {
  const keyType = blobKeyType(c.publicKey);
  const certType = CERT_TYPE_OF_KEY[keyType];
  if (!certType) throw new Error(`no certificate type for key type ${keyType}`);
  const keyFields = c.publicKey.subarray(4 + new TextEncoder().encode(keyType).length);
  const principals = new SshWriter();
  for (const p of c.principals) principals.string(p);
  const critical = c.type === 'user'
    ? Object.entries(c.criticalOptions).map(([k, v]): [string, string | null] => [k, k === 'verify-required' ? null : v ?? ''])
    : [];
  const tbs = new SshWriter()
    .string(certType)
    .string(randomBytes(32))
    .raw(keyFields)
    .u64(c.serial)
    .u32(SSH_CERT_TYPES[c.type])
    .string(c.keyId)
    .string(principals.bytes())
    .u64(seconds(c.validAfter))
    .u64(seconds(c.validBefore))
    .string(optionList(critical))
    .string(optionList(c.type === 'user' ? c.extensions.map((e): [string, null] => [e, null]) : []))
    .string(new Uint8Array(0))
    .string(sshBlobFromSpki(ca.spki))
    .bytes();
  return concatBytes([tbs, new SshWriter().string(await sshSign(ca, tbs)).bytes()]);
}

/** The first fields of a certificate blob: its type and serial (for checks and listings). */
export function certificateSerial(blob: Uint8Array): { certType: string; serial: bigint } {
  const r = new SshReader(blob);
  const certType = new TextDecoder().decode(r.string());
  r.string(); // nonce
  const keyType = certType.replace(/-cert-v01@openssh\.com$/, '');
  if (keyType === 'ssh-ed25519') r.string();
  else if (keyType.startsWith('ecdsa-')) { r.string(); r.string(); } else if (keyType === 'ssh-rsa') { r.string(); r.string(); } else throw new Error(`unknown certificate type ${certType}`);
  return { certType, serial: r.u64() };
}
