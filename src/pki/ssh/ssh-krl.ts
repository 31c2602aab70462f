/**
 * OpenSSH key revocation lists (PROTOCOL.krl): the header, then one
 * certificates section for the CA listing revoked serials. sshd reads it
 * through RevokedKeys; `ssh-keygen -Q -f krl key` queries it. Unsigned (sshd
 * does not check KRL signatures): its integrity comes from where it is
 * fetched.
 */
import { SshWriter } from './ssh-wire.js';

const KRL_MAGIC = 0x5353484b524c0a00n;
const KRL_FORMAT_VERSION = 1;
const KRL_SECTION_CERTIFICATES = 1;
const KRL_SECTION_CERT_SERIAL_LIST = 0x20;

export interface KrlInput {
  /** Increases with each new KRL of the CA. */
  version: bigint;
  generatedAt: Date;
  comment: string;
  /** The CA's public key blob. */
  caKey: Uint8Array;
  /** Revoked certificate serials (any order; duplicates once). */
  serials: bigint[];
}

export function encodeKrl(k: KrlInput): Uint8Array {
  const w = new SshWriter()
    .u64(KRL_MAGIC)
    .u32(KRL_FORMAT_VERSION)
    .u64(k.version)
    .u64(BigInt(Math.floor(k.generatedAt.getTime() / 1000)))
    .u64(0n)
    .string(new Uint8Array(0))
    .string(k.comment);
  const serials = [...new Set(k.serials)].filter((s) => s > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (serials.length) {
    const list = new SshWriter();
    for (const s of serials) list.u64(s);
    const section = new SshWriter().string(k.caKey).string(new Uint8Array(0)).byte(KRL_SECTION_CERT_SERIAL_LIST).string(list.bytes());
    w.byte(KRL_SECTION_CERTIFICATES).string(section.bytes());
  }
  return w.bytes();
}
