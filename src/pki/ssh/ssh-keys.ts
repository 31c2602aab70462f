/**
 * SSH public keys: a CA key's blob from its SPKI, a requester's key parsed
 * from the authorized_keys form (sshpk), the lines sshd and ssh take
 * (TrustedUserCAKeys, @cert-authority in known_hosts), and a Signer's
 * signature in SSH form (RFC 5656 §3.1.2, RFC 8709 §6).
 */
import { createHash, createPublicKey } from 'node:crypto';
import sshpk from 'sshpk';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { KeyAlgorithm, Signer } from '../../core/signing.js';
import { SshReader, SshWriter } from './ssh-wire.js';

/** The SSH key algorithms an SSH CA signs with. */
export const SSH_CA_ALGORITHMS = ['ed25519', 'ecdsa-p256'] as const;
export type SshCaAlgorithm = (typeof SSH_CA_ALGORITHMS)[number];

export function isSshCaAlgorithm(a: KeyAlgorithm): a is SshCaAlgorithm {
  return (SSH_CA_ALGORITHMS as readonly string[]).includes(a);
}

const b64u = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64url'));

/** The SSH public key blob (RFC 4253 §6.6) of an Ed25519 or P-256 SubjectPublicKeyInfo. */
export function sshBlobFromSpki(spki: Uint8Array): Uint8Array {
  const jwk = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return new SshWriter().string('ssh-ed25519').string(b64u(jwk.x!)).bytes();
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') {
    const point = new Uint8Array([4, ...b64u(jwk.x!), ...b64u(jwk.y!)]);
    return new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(point).bytes();
  }
  throw new Error(`an SSH CA key must be Ed25519 or ECDSA P-256 (got ${jwk.kty} ${jwk.crv ?? ''})`);
}

/** The key type named at the start of a blob ("ssh-ed25519", "ecdsa-sha2-nistp256", ...). */
export function blobKeyType(blob: Uint8Array): string {
  return new SshReader(blob).text();
}

/** "ssh-ed25519 AAAA... comment": the form of authorized_keys, TrustedUserCAKeys and .pub files. */
export function publicKeyLine(blob: Uint8Array, comment?: string): string {
  return `${blobKeyType(blob)} ${Buffer.from(blob).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** A known_hosts line trusting host certificates of this CA for `hosts` (patterns such as *.example.com). */
export function knownHostsLine(blob: Uint8Array, hosts: string[], comment?: string): string {
  return `@cert-authority ${hosts.join(',')} ${publicKeyLine(blob, comment)}`;
}

/** SHA256:base64 (no padding), as ssh-keygen -l prints. */
export function sshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export interface ParsedSshKey {
  type: string;
  blob: Uint8Array;
  fingerprint: string;
}

/** Key types a certificate may be issued for (sshd refuses weaker ones anyway). */
const ACCEPTED = new Map<string, (k: sshpk.Key) => string | null>([
  ['ed25519', () => null],
  ['ecdsa', (k) => (['nistp256', 'nistp384', 'nistp521'].includes(k.curve ?? '') ? null : `ECDSA curve ${k.curve ?? '?'} is not accepted`)],
  ['rsa', (k) => (k.size >= 2048 ? null : `an RSA key of ${k.size} bits is too small (at least 2048)`)],
]);

/** Parses "type base64 [comment]" (one line); throws an Error with a clear message on anything else. */
export function parseSshPublicKey(text: string): ParsedSshKey {
  const line = text.trim();
  if (!line || /[\r\n]/.test(line)) throw new Error('the public key must be one line: "<type> <base64> [comment]"');
  if (/-cert-v01@openssh\.com/.test(line.split(/\s+/)[0] ?? '')) throw new Error('that is a certificate, not a public key');
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(line, 'ssh');
  } catch (e) {
    throw new Error(`not an OpenSSH public key: ${(e as Error).message}`);
  }
  const check = ACCEPTED.get(key.type);
  if (!check) throw new Error(`key type ${key.type} is not accepted (ed25519, ecdsa, rsa)`);
  const why = check(key);
  if (why) throw new Error(why);
  const blob = new Uint8Array(key.toBuffer('rfc4253'));
  return { type: blobKeyType(blob), blob, fingerprint: sshFingerprint(blob) };
}

/**
 * Signs `data` with a CA Signer and returns the SSH signature blob: string
 * algorithm, string signature (Ed25519: the 64 bytes; ECDSA: mpint r, mpint
 * s converted from the Signer's DER ECDSA-Sig-Value). The private key stays
 * in its backend.
 */
export async function sshSign(signer: Signer, data: Uint8Array): Promise<Uint8Array> {
  const sig = await signer.sign(data);
  if (signer.algorithm === 'ed25519') return new SshWriter().string('ssh-ed25519').string(sig).bytes();
  if (signer.algorithm === 'ecdsa-p256') {
    const v = AsnConvert.parse(sig, ECDSASigValue);
    const inner = new SshWriter().mpint(new Uint8Array(v.r)).mpint(new Uint8Array(v.s)).bytes();
    return new SshWriter().string('ecdsa-sha2-nistp256').string(inner).bytes();
  }
  throw new Error(`an SSH CA key must be Ed25519 or ECDSA P-256, not ${signer.algorithm}`);
}

/** The DER SubjectPublicKeyInfo of an Ed25519 or P-256 SSH public key blob (an SSH CA's key, for key custody). */
export function spkiFromSshBlob(blob: Uint8Array): Uint8Array {
  const r = new SshReader(blob);
  const type = r.text();
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
  let jwk: { kty: string; crv: string; x: string; y?: string };
  if (type === 'ssh-ed25519') {
    jwk = { kty: 'OKP', crv: 'Ed25519', x: b64(r.string()) };
  } else if (type === 'ecdsa-sha2-nistp256') {
    r.string();
    const q = r.string();
    if (q.length !== 65 || q[0] !== 4) throw new Error('not an uncompressed P-256 point');
    jwk = { kty: 'EC', crv: 'P-256', x: b64(q.subarray(1, 33)), y: b64(q.subarray(33)) };
  } else {
    throw new Error(`an SSH CA key must be Ed25519 or ECDSA P-256 (got ${type})`);
  }
  return new Uint8Array(createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }));
}
