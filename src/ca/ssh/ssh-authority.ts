/**
 * The SSH certificate authorities (issue 21): each CA's key is generated in
 * and used through the node's key backend (software sealed keys, a PKCS#11
 * token or pool), exactly like an X.509 CA key, so its signatures never see
 * the private key in clear and Shamir backups (src/keys/custody) cover it.
 * Signs certificates and builds each CA's KRL, stored so that every node
 * serves the same one.
 */
import { randomBytes } from 'node:crypto';
import type { Actor } from '../../core/actor.js';
import type { Clock } from '../../core/clock.js';
import { RampartError } from '../../core/errors.js';
import type { KeyAlgorithm, Signer } from '../../core/signing.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { isKeyPlacement, type KeyBackend } from '../../keys/key-backend.js';
import { signSshCertificate, type SshCertificateInput } from '../../pki/ssh/ssh-certificate.js';
import { encodeKrl } from '../../pki/ssh/ssh-krl.js';
import { SSH_CA_ALGORITHMS, isSshCaAlgorithm, sshBlobFromSpki, sshFingerprint } from '../../pki/ssh/ssh-keys.js';
import type { SshCaRecord, SshCertKind, SshKrlRecord } from '../../storage/ssh-records.js';
import type { SshStore } from '../../storage/store.js';

export interface SshAuthorityOptions {
  store: SshStore;
  keys: KeyBackend;
  audit: AuditLog;
  clock: Clock;
}

export const SSH_CA_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A random serial of 63 bits, never 0 (a KRL cannot name serial 0). */
export function newSshSerial(): bigint {
  for (;;) {
    const s = randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
    if (s !== 0n) return s;
  }
}

export class SshAuthority {
  private readonly signers = new Map<string, Signer>();
  constructor(private readonly o: SshAuthorityOptions) {}

  get keys(): KeyBackend { return this.o.keys; }

  /** Refuses a bad name or algorithm, or a name in use. */
  async checkNewCa(name: string, algorithm: KeyAlgorithm): Promise<void> {
    if (!SSH_CA_NAME.test(name)) throw new RampartError('malformed', `SSH CA name "${name}" must be 1-63 of a-z 0-9 -, starting with a letter or digit`);
    if (!isSshCaAlgorithm(algorithm)) throw new RampartError('malformed', `an SSH CA key is ${SSH_CA_ALGORITHMS.join(' or ')}, not ${algorithm}`);
    if (await this.o.store.getSshCa(name)) throw new RampartError('conflict', `an SSH CA named "${name}" already exists`);
  }

  /**
   * Generates the CA key in the key backend and records the CA (audited in
   * the same transaction). A key the backend would keep in one token only
   * (an Ed25519 key in a SoftHSM2 pool: KeyPlacement.copyLimit) is refused in
   * a pool, with the two ways out; in a single token it is made, with a
   * warning that it cannot be backed up.
   */
  async createCa(name: string, type: SshCertKind, algorithm: KeyAlgorithm, actor: Actor): Promise<{ ca: SshCaRecord; warnings: string[] }> {
    await this.checkNewCa(name, algorithm);
    const keys = this.o.keys;
    const warnings: string[] = [];
    const limit = isKeyPlacement(keys) ? await keys.copyLimit(algorithm) : null;
    // P-256 is the way out only where a P-256 key does leave the token (extractable keys, a token that wraps them).
    const p256 = limit && algorithm !== 'ecdsa-p256' && isKeyPlacement(keys) && (await keys.copyLimit('ecdsa-p256')) === null ? ', or use --algorithm ecdsa-p256' : '';
    if (limit && isKeyPlacement(keys) && keys.places().length > 1) {
      throw new RampartError('conflict', `a ${algorithm} key generated in this ${keys.type} pool would live in one token only (${limit}): `
        + `create the CA in the creation ceremony instead (\`rampart ssh ca create ${name} --type ${type} --algorithm ${algorithm} --backup --threshold K --shares N --custodian ...\`: `
        + `the key is made in memory, its Shamir shares written first, then imported into every token)${p256}`);
    }
    if (limit) warnings.push(`the ${algorithm} key of SSH CA ${name} cannot leave its token (${limit}): it cannot be backed up with \`rampart key backup\`; create it with --backup (the creation ceremony)${p256} to have Shamir shares`);
    let signer: Signer;
    try {
      signer = await keys.generate(`ssh-${type}-ca-${name}`, algorithm);
    } catch (e) {
      throw new RampartError('malformed', `the ${keys.type} key backend cannot make this key: ${(e as Error).message}`);
    }
    return { ca: await this.recordCa(name, type, signer, actor, warnings.length ? { warning: warnings.join('; ') } : {}), warnings };
  }

  /** Records a new CA whose key `signer` is in the key backend (audited ssh.ca.create in the same transaction). */
  async recordCa(name: string, type: SshCertKind, signer: Signer, actor: Actor, details: Record<string, unknown> = {}): Promise<SshCaRecord> {
    const algorithm = signer.algorithm;
    const rec: SshCaRecord = {
      name, type, algorithm, keyRef: signer.keyRef, keyBackend: this.o.keys.type, publicKey: sshBlobFromSpki(signer.spki), createdAt: this.o.clock.now(),
    };
    await this.o.store.insertSshCa(rec, this.o.audit.builder({
      actor: actor.id, source: actor.source, channel: actor.channel, action: 'ssh.ca.create', target: `ssh-ca:${name}`, outcome: 'success',
      details: { type, algorithm, keyRef: signer.keyRef, backend: this.o.keys.type, fingerprint: sshFingerprint(rec.publicKey), ...details },
    }));
    this.signers.set(signer.keyRef, signer);
    return rec;
  }

  async ca(name: string): Promise<SshCaRecord> {
    const ca = SSH_CA_NAME.test(name) ? await this.o.store.getSshCa(name) : null;
    if (!ca) throw new RampartError('notFound', `no SSH CA named "${name}"`);
    return ca;
  }

  /** The CA, or null (no error) when there is none. */
  async find(name: string): Promise<SshCaRecord | null> {
    return SSH_CA_NAME.test(name) ? this.o.store.getSshCa(name) : null;
  }

  list(): Promise<SshCaRecord[]> {
    return this.o.store.listSshCas();
  }

  /** The CA's signer from the key backend (cached by key reference: a restored key has a new one). */
  async signer(ca: SshCaRecord): Promise<Signer> {
    let s = this.signers.get(ca.keyRef);
    if (!s) {
      if (ca.keyBackend !== this.o.keys.type) throw new RampartError('unavailable', `the key of SSH CA ${ca.name} is kept by the ${ca.keyBackend} key backend, not this node's ${this.o.keys.type}`);
      s = await this.o.keys.open(ca.keyRef);
      this.signers.set(ca.keyRef, s);
    }
    return s;
  }

  async sign(ca: SshCaRecord, input: SshCertificateInput): Promise<Uint8Array> {
    return signSshCertificate(await this.signer(ca), input);
  }

  /** The CA's KRL from its revoked, unexpired certificates (not stored). */
  private async buildKrl(name: string): Promise<SshKrlRecord> {
    const ca = await this.ca(name);
    const now = this.o.clock.now();
    const { version, serials } = await this.o.store.sshRevocations(name, now);
    return {
      caName: name, version, generatedAt: now,
      krl: encodeKrl({ version: BigInt(version), generatedAt: now, comment: `Rampart SSH CA ${name}`, caKey: ca.publicKey, serials: serials.map((x) => BigInt(x)) }),
    };
  }

  /** Builds the CA's KRL and stores it (a newer stored one wins): every node then serves it. */
  async publishKrl(name: string): Promise<SshKrlRecord> {
    const krl = await this.buildKrl(name);
    await this.o.store.saveSshKrl(krl);
    return (await this.o.store.latestSshKrl(name)) ?? krl;
  }

  /**
   * The KRL every node serves: the stored one when it is current (its
   * version is the CA's revocation count), else a fresh one (stored too;
   * a node that cannot write, a replica region's, serves it unstored).
   */
  async krl(name: string): Promise<SshKrlRecord> {
    const stored = await this.o.store.latestSshKrl(name);
    // Two primary-key reads: the serial list is read only when a new KRL is due.
    if (stored && stored.version >= ((await this.ca(name)).revocations ?? 0)) return stored;
    try {
      return await this.publishKrl(name);
    } catch {
      return this.buildKrl(name);
    }
  }
}
