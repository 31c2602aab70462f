/**
 * The SSH part of the PostgreSQL store (store.ssh). Every write is safe to
 * repeat after a commit whose answer was lost: a retried attempt recognizes
 * its own earlier commit (same serial and bytes, same revocation time) and
 * the audit entry it appended (appendAuditInTx's `attempted`).
 */
import type { TransactionSql } from 'postgres';
import type { AuditEntry, Fence } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import { n, type Row } from '../row-mapping.js';
import type { AuditBuilder, SshStore } from '../store.js';
import {
  SSH_INSERT_COLUMNS, sshInsertValues, sshListWhere, toSshCa, toSshCert, toSshKrl,
  type SshCaRecord, type SshCertificateQuery, type SshCertificateRecord, type SshKrlRecord,
} from '../ssh-records.js';
import { errorCode, transaction, type PgPool } from './pg-pool.js';

export interface PostgresSshDeps {
  pool: PgPool;
  checkFence: (tx: TransactionSql, f: Fence | undefined) => Promise<void>;
  appendAuditInTx: (tx: TransactionSql, build: AuditBuilder, attempted: AuditEntry | null) => Promise<AuditEntry>;
}

const insertSql = `INSERT INTO ssh_certificates (${SSH_INSERT_COLUMNS}) VALUES (${SSH_INSERT_COLUMNS.split(',').map((_, i) => `$${i + 1}`).join(', ')})`;

export class PostgresSsh implements SshStore {
  constructor(private readonly x: PostgresSshDeps) {}

  async insertSshCa(ca: SshCaRecord, audit: AuditBuilder): Promise<void> {
    let attempted: AuditEntry | null = null;
    await this.x.pool.run('insertSshCa', (sql, a) => transaction(sql, async (tx) => {
      const [mine] = a.retried ? await tx`SELECT key_ref FROM ssh_cas WHERE name = ${ca.name}` : [];
      if (mine && mine.key_ref === ca.keyRef) return;
      try {
        await tx`INSERT INTO ssh_cas (name, type, algorithm, key_ref, key_backend, public_key, created_at)
          VALUES (${ca.name}, ${ca.type}, ${ca.algorithm}, ${ca.keyRef}, ${ca.keyBackend}, ${Buffer.from(ca.publicKey)}, ${ca.createdAt.getTime()})`;
      } catch (e) {
        if (errorCode(e) === '23505') throw new RampartError('conflict', `an SSH CA named "${ca.name}" already exists`);
        throw e;
      }
      attempted = await this.x.appendAuditInTx(tx, audit, a.retried ? attempted : null);
    }));
  }

  async listSshCas(): Promise<SshCaRecord[]> {
    return (await this.x.pool.run('listSshCas', (sql) => sql`SELECT * FROM ssh_cas ORDER BY name`)).map(toSshCa);
  }

  async getSshCa(name: string): Promise<SshCaRecord | null> {
    const [r] = await this.x.pool.run('getSshCa', (sql) => sql`SELECT * FROM ssh_cas WHERE name = ${name}`);
    return r ? toSshCa(r) : null;
  }

  async setSshCaKey(name: string, keyRef: string, keyBackend: string): Promise<boolean> {
    const rows = await this.x.pool.run('setSshCaKey', (sql) => sql`UPDATE ssh_cas SET key_ref = ${keyRef}, key_backend = ${keyBackend} WHERE name = ${name} RETURNING name`);
    return rows.length === 1;
  }

  async insertSshCertificate(rec: SshCertificateRecord, audit: AuditBuilder, fence?: Fence): Promise<AuditEntry> {
    let attempted: AuditEntry | null = null;
    return this.x.pool.run('insertSshCertificate', (sql, a) => transaction(sql, async (tx): Promise<AuditEntry> => {
      if (a.retried && attempted) {
        const [mine] = await tx`SELECT cert FROM ssh_certificates WHERE serial = ${rec.serial}`;
        if (mine && Buffer.from(mine.cert as Buffer).equals(Buffer.from(rec.cert))) return attempted;
      }
      await this.x.checkFence(tx, fence);
      try {
        await tx.unsafe(insertSql, sshInsertValues(rec) as never[]);
      } catch (e) {
        if (errorCode(e) === '23505') throw new RampartError('conflict', `SSH certificate serial ${rec.serial} exists already`);
        throw e;
      }
      attempted = await this.x.appendAuditInTx(tx, audit, null);
      return attempted;
    }));
  }

  async getSshCertificate(serial: string): Promise<SshCertificateRecord | null> {
    const [r] = await this.x.pool.run('getSshCertificate', (sql) => sql`SELECT * FROM ssh_certificates WHERE serial = ${serial}`);
    return r ? toSshCert(r) : null;
  }

  async listSshCertificates(q: SshCertificateQuery, now: Date): Promise<{ items: SshCertificateRecord[]; nextCursor: string | null }> {
    const { where, args } = sshListWhere(q, now, 'postgres');
    const rows = await this.x.pool.run('listSshCertificates', (sql) => sql.unsafe(`SELECT * FROM ssh_certificates${where} ORDER BY seq DESC LIMIT $${args.length + 1}`, [...args, q.limit + 1] as never[]));
    const more = rows.length > q.limit;
    const items = [...rows].slice(0, q.limit) as Row[];
    return { items: items.map(toSshCert), nextCursor: more ? String(items[items.length - 1]!.seq) : null };
  }

  async revokeSshCertificate(serial: string, at: Date, audit: AuditBuilder, fence?: Fence): Promise<SshCertificateRecord> {
    let attempted: AuditEntry | null = null;
    return this.x.pool.run('revokeSshCertificate', (sql, a) => transaction(sql, async (tx): Promise<SshCertificateRecord> => {
      const [r] = await tx`SELECT * FROM ssh_certificates WHERE serial = ${serial} FOR UPDATE`;
      if (!r) throw new RampartError('notFound', `no SSH certificate with serial ${serial}`);
      // Revoked at exactly our time after a lost answer: our own earlier commit.
      if (a.retried && attempted && r.status === 'revoked' && n(r.revoked_at) === at.getTime()) return toSshCert(r);
      await this.x.checkFence(tx, fence);
      if (r.status === 'revoked') throw new RampartError('alreadyRevoked', `SSH certificate ${serial} is already revoked`);
      await tx`UPDATE ssh_certificates SET status = 'revoked', revoked_at = ${at.getTime()} WHERE serial = ${serial}`;
      await tx`UPDATE ssh_cas SET revocations = revocations + 1 WHERE name = ${String(r.ca_name)}`;
      attempted = await this.x.appendAuditInTx(tx, audit, null);
      return toSshCert({ ...r, status: 'revoked', revoked_at: at.getTime() });
    }));
  }

  async sshRevocations(caName: string, now: Date): Promise<{ version: number; serials: string[] }> {
    return this.x.pool.run('sshRevocations', async (sql) => {
      const [ca] = await sql`SELECT revocations FROM ssh_cas WHERE name = ${caName}`;
      const rows = await sql`SELECT serial FROM ssh_certificates WHERE ca_name = ${caName} AND status = 'revoked' AND valid_before > ${now.getTime()}`;
      return { version: n(ca?.revocations ?? 0), serials: rows.map((r) => String(r.serial)) };
    });
  }

  async saveSshKrl(k: SshKrlRecord): Promise<void> {
    await this.x.pool.run('saveSshKrl', (sql) => sql`INSERT INTO ssh_krls (ca_name, version, generated_at, krl)
      VALUES (${k.caName}, ${k.version}, ${k.generatedAt.getTime()}, ${Buffer.from(k.krl)})
      ON CONFLICT (ca_name) DO UPDATE SET version = excluded.version, generated_at = excluded.generated_at, krl = excluded.krl
      WHERE excluded.version > ssh_krls.version`);
  }

  async latestSshKrl(caName: string): Promise<SshKrlRecord | null> {
    const [r] = await this.x.pool.run('latestSshKrl', (sql) => sql`SELECT * FROM ssh_krls WHERE ca_name = ${caName}`);
    return r ? toSshKrl(r) : null;
  }
}
