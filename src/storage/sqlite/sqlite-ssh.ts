/** The SSH part of the SQLite store (store.ssh): writes go through the group commit, durable when they resolve. */
import type Database from 'better-sqlite3';
import type { AuditEntry, Fence } from '../../core/types.js';
import { RampartError } from '../../core/errors.js';
import type { Row } from '../row-mapping.js';
import type { AuditBuilder, SshStore } from '../store.js';
import {
  SSH_INSERT_COLUMNS, sshInsertValues, sshListWhere, toSshCa, toSshCert, toSshKrl,
  type SshCaRecord, type SshCertificateQuery, type SshCertificateRecord, type SshKrlRecord,
} from '../ssh-records.js';
import type { GroupCommit } from './group-commit.js';

export interface SqliteSshDeps {
  prep: (sql: string) => Database.Statement;
  group: GroupCommit;
  checkFence: (f: Fence | undefined) => void;
  appendAuditInTx: (build: AuditBuilder) => AuditEntry;
}

const isConstraint = (e: unknown): boolean => (e as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT') === true;

export class SqliteSsh implements SshStore {
  constructor(private readonly x: SqliteSshDeps) {}

  async insertSshCa(ca: SshCaRecord, audit: AuditBuilder): Promise<void> {
    await this.x.group.run(() => {
      try {
        this.x.prep('INSERT INTO ssh_cas (name, type, algorithm, key_ref, key_backend, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(ca.name, ca.type, ca.algorithm, ca.keyRef, ca.keyBackend, Buffer.from(ca.publicKey), ca.createdAt.getTime());
      } catch (e) {
        if (isConstraint(e)) throw new RampartError('conflict', `an SSH CA named "${ca.name}" already exists`);
        throw e;
      }
      this.x.appendAuditInTx(audit);
    });
  }

  async listSshCas(): Promise<SshCaRecord[]> {
    return (this.x.prep('SELECT * FROM ssh_cas ORDER BY name').all() as Row[]).map(toSshCa);
  }

  async getSshCa(name: string): Promise<SshCaRecord | null> {
    const r = this.x.prep('SELECT * FROM ssh_cas WHERE name = ?').get(name) as Row | undefined;
    return r ? toSshCa(r) : null;
  }

  async setSshCaKey(name: string, keyRef: string, keyBackend: string): Promise<boolean> {
    return this.x.group.run(() => this.x.prep('UPDATE ssh_cas SET key_ref = ?, key_backend = ? WHERE name = ?').run(keyRef, keyBackend, name).changes === 1);
  }

  async insertSshCertificate(rec: SshCertificateRecord, audit: AuditBuilder, fence?: Fence): Promise<AuditEntry> {
    return this.x.group.run(() => {
      this.x.checkFence(fence);
      try {
        this.x.prep(`INSERT INTO ssh_certificates (${SSH_INSERT_COLUMNS}) VALUES (${SSH_INSERT_COLUMNS.split(',').map(() => '?').join(', ')})`).run(...sshInsertValues(rec));
      } catch (e) {
        if (isConstraint(e)) throw new RampartError('conflict', `SSH certificate serial ${rec.serial} exists already`);
        throw e;
      }
      return this.x.appendAuditInTx(audit);
    });
  }

  async getSshCertificate(serial: string): Promise<SshCertificateRecord | null> {
    const r = this.x.prep('SELECT * FROM ssh_certificates WHERE serial = ?').get(serial) as Row | undefined;
    return r ? toSshCert(r) : null;
  }

  async listSshCertificates(q: SshCertificateQuery, now: Date): Promise<{ items: SshCertificateRecord[]; nextCursor: string | null }> {
    const { where, args } = sshListWhere(q, now, 'sqlite');
    const rows = this.x.prep(`SELECT * FROM ssh_certificates${where} ORDER BY seq DESC LIMIT ?`).all(...args, q.limit + 1) as Row[];
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit);
    return { items: items.map(toSshCert), nextCursor: more ? String(items[items.length - 1]!.seq) : null };
  }

  async revokeSshCertificate(serial: string, at: Date, audit: AuditBuilder, fence?: Fence): Promise<SshCertificateRecord> {
    return this.x.group.run(() => {
      this.x.checkFence(fence);
      const r = this.x.prep('SELECT * FROM ssh_certificates WHERE serial = ?').get(serial) as Row | undefined;
      if (!r) throw new RampartError('notFound', `no SSH certificate with serial ${serial}`);
      if (r.status === 'revoked') throw new RampartError('alreadyRevoked', `SSH certificate ${serial} is already revoked`);
      this.x.prep(`UPDATE ssh_certificates SET status = 'revoked', revoked_at = ? WHERE serial = ?`).run(at.getTime(), serial);
      this.x.prep('UPDATE ssh_cas SET revocations = revocations + 1 WHERE name = ?').run(r.ca_name);
      this.x.appendAuditInTx(audit);
      return toSshCert({ ...r, status: 'revoked', revoked_at: at.getTime() });
    });
  }

  async sshRevocations(caName: string, now: Date): Promise<{ version: number; serials: string[] }> {
    const ca = this.x.prep('SELECT revocations FROM ssh_cas WHERE name = ?').get(caName) as Row | undefined;
    const rows = this.x.prep(`SELECT serial FROM ssh_certificates WHERE ca_name = ? AND status = 'revoked' AND valid_before > ?`).all(caName, now.getTime()) as Row[];
    return { version: Number(ca?.revocations ?? 0), serials: rows.map((r) => String(r.serial)) };
  }

  async saveSshKrl(k: SshKrlRecord): Promise<void> {
    await this.x.group.run(() => {
      this.x.prep(`INSERT INTO ssh_krls (ca_name, version, generated_at, krl) VALUES (?, ?, ?, ?)
        ON CONFLICT (ca_name) DO UPDATE SET version = excluded.version, generated_at = excluded.generated_at, krl = excluded.krl
        WHERE excluded.version > ssh_krls.version`).run(k.caName, k.version, k.generatedAt.getTime(), Buffer.from(k.krl));
    });
  }

  async latestSshKrl(caName: string): Promise<SshKrlRecord | null> {
    const r = this.x.prep('SELECT * FROM ssh_krls WHERE ca_name = ?').get(caName) as Row | undefined;
    return r ? toSshKrl(r) : null;
  }
}
