/**
 * The backup file of a k-of-n key backup: everything needed to restore the
 * key except the key-encryption key, which exists only as the custodians'
 * shares. The file alone reveals nothing about the private key (the wrapped
 * key is AES-256 under a random one-time key; the share digests are SHA-256
 * of 256-bit secrets), so it can be kept with ordinary backups.
 */
import { z } from 'zod';
import { KEY_ALGORITHMS } from '../key-backend.js';
import { CustodyError } from './custody-error.js';
import { MAX_SHARES } from './share-format.js';
import { WRAP_METHOD } from './aes-key-wrap.js';

const b64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, { message: 'must be base64' });
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, { message: 'must be 64 lower-case hex digits' });

export const custodianSchema = z.strictObject({
  index: z.number().int().min(1).max(MAX_SHARES),
  name: z.string().min(1).max(64),
  sealed: z.boolean(),
  /** SHA-256 over "<backupId>:<index>:" and the raw share: tells a wrong share from a right one at restore. */
  shareDigest: hex64,
  /** The checksum line of the share block as handed out (for the ceremony records). */
  shareChecksum: z.string(),
});

export const keyBackupSchema = z.strictObject({
  format: z.literal('rampart-key-backup'),
  version: z.literal(1),
  backupId: z.string().regex(/^kb-[0-9]{8}-[0-9a-f]{8}$/),
  createdAt: z.string(),
  createdBy: z.string(),
  node: z.string(),
  issuer: z.strictObject({
    id: z.string().min(1),
    /** ssh-user, ssh-host: an SSH CA (issue 21), whose `certificate` is its key's SPKI (it has no X.509 certificate). */
    kind: z.enum(['root', 'intermediate', 'ssh-user', 'ssh-host']),
    subject: z.string(),
    notAfter: z.string(),
    /** SHA-256 of the CA certificate (DER), AA:BB:... */
    certificateSha256: z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
    /** The CA certificate, base64 DER. */
    certificate: b64,
  }),
  key: z.strictObject({
    algorithm: z.enum(KEY_ALGORITHMS),
    /** DER SubjectPublicKeyInfo, base64. */
    spki: b64,
    spkiSha256: z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
    sourceBackend: z.string(),
    sourceKeyRef: z.string(),
  }),
  wrap: z.strictObject({
    method: z.literal(WRAP_METHOD),
    /** RFC 5649 AES-256 key wrap with padding of the PKCS#8 private key, base64. */
    wrappedKey: b64,
  }),
  sharing: z.strictObject({
    scheme: z.literal('shamir-gf256'),
    threshold: z.number().int().min(2).max(MAX_SHARES),
    shares: z.number().int().min(2).max(MAX_SHARES),
    custodians: z.array(custodianSchema).min(2).max(MAX_SHARES),
  }),
}).superRefine((v, ctx) => {
  const s = v.sharing;
  if (s.threshold > s.shares) ctx.addIssue({ code: 'custom', message: `threshold ${s.threshold} exceeds the share count ${s.shares}`, path: ['sharing'] });
  if (s.custodians.length !== s.shares || s.custodians.some((c, i) => c.index !== i + 1)) {
    ctx.addIssue({ code: 'custom', message: 'custodians must list shares 1..n in order', path: ['sharing', 'custodians'] });
  }
});

export type KeyBackupArtifact = z.infer<typeof keyBackupSchema>;

export function serializeArtifact(a: KeyBackupArtifact): string {
  return `${JSON.stringify(a, null, 2)}\n`;
}

export function parseArtifact(text: string, source: string): KeyBackupArtifact {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CustodyError('format', `${source} is not a Rampart key backup file (not JSON)`);
  }
  if ((json as { format?: unknown } | null)?.format !== 'rampart-key-backup') {
    throw new CustodyError('format', `${source} is not a Rampart key backup file (format is not "rampart-key-backup"; a share goes to --share-file)`);
  }
  const r = keyBackupSchema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new CustodyError('format', `${source}: invalid key backup file: ${first.path.join('.') || '(top)'}: ${first.message}`);
  }
  return r.data;
}
