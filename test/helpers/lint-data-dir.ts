/**
 * Every certificate, CA certificate and CRL a test's node wrote, linted
 * before its data directory is removed (node-process.ts removeDir): an
 * issuance anywhere in the suite that breaks an error-level rule of
 * src/pki/lint fails the test that made it. SQLite data directories here;
 * PostgreSQL databases by lintPostgresErrors, which the cluster helper
 * (postgres.ts) runs before it stops a cluster.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatFindings, guessProfile, lintCertificate, lintCrl, type ProfileKind } from '../../src/pki/lint/index.js';

/** Built-in profile names and the lint profile they are. */
const PROFILE_OF: Record<string, ProfileKind> = { server: 'tls-server', client: 'tls-client', 'code-signing': 'code-signing', email: 'email' };
const ISSUER_KIND: Record<string, ProfileKind> = { root: 'root-ca', intermediate: 'subordinate-ca', 'ocsp-signer': 'ocsp-signer' };

/** Lint errors of everything stored in the data directory's SQLite database, as readable lines ([] when clean or no database). */
export function lintDataDirErrors(dataDir: string): string[] {
  const file = join(dataDir, 'rampart.db');
  if (!existsSync(file)) return [];
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return [];
  }
  const problems: string[] = [];
  const note = (what: string, findings: ReturnType<typeof lintCertificate>): void => {
    if (findings.some((f) => f.severity === 'error')) problems.push(`${what}:\n${formatFindings(findings.filter((f) => f.severity === 'error'))}`);
  };
  try {
    const has = (t: string): boolean => Boolean(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t));
    if (has('issuers')) {
      const issuers = db.prepare('SELECT id, kind, cert_der FROM issuers').all() as Array<{ id: string; kind: string; cert_der: Buffer }>;
      const byId = new Map(issuers.map((i) => [i.id, i]));
      for (const i of issuers) note(`issuer ${i.id} (${i.kind})`, lintCertificate(new Uint8Array(i.cert_der), ISSUER_KIND[i.kind] ?? guessProfile(new Uint8Array(i.cert_der))));
      if (has('crls')) {
        for (const c of db.prepare('SELECT issuer_id, number, der FROM crls').all() as Array<{ issuer_id: string; number: number | bigint; der: Buffer }>) {
          const issuer = byId.get(c.issuer_id);
          note(`CRL #${c.number} of ${c.issuer_id}`, lintCrl(new Uint8Array(c.der), issuer ? new Uint8Array(issuer.cert_der) : undefined));
        }
      }
    }
    if (has('certificates')) {
      for (const c of db.prepare('SELECT serial, profile, der FROM certificates').iterate() as Iterable<{ serial: string; profile: string; der: Buffer }>) {
        const der = new Uint8Array(c.der);
        note(`certificate ${c.serial} (profile ${c.profile})`, lintCertificate(der, PROFILE_OF[c.profile] ?? guessProfile(der)));
      }
    }
  } finally {
    db.close();
  }
  return problems;
}

/**
 * The same for every Rampart database of a PostgreSQL cluster, read with
 * `psql` (hex-encoded DER); databases without Rampart's tables are skipped.
 * Runs only under the test runner (NODE_TEST_CONTEXT), not for benchmarks.
 */
export async function lintPostgresErrors(psql: (sql: string, database: string) => Promise<string>): Promise<string[]> {
  if (!process.env.NODE_TEST_CONTEXT) return [];
  const problems: string[] = [];
  const note = (what: string, findings: ReturnType<typeof lintCertificate>): void => {
    if (findings.some((f) => f.severity === 'error')) problems.push(`${what}:\n${formatFindings(findings.filter((f) => f.severity === 'error'))}`);
  };
  const rows = async (db: string, sql: string): Promise<string[][]> => (await psql(sql, db)).split('\n').filter(Boolean).map((l) => l.split('|'));
  const dbs = (await psql("SELECT datname FROM pg_database WHERE datname NOT IN ('template0', 'template1')", 'postgres')).split('\n').filter(Boolean);
  for (const db of dbs) {
    if ((await psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('issuers', 'certificates', 'crls')", db)) !== '3') continue;
    const issuers = new Map<string, Uint8Array>();
    for (const [id, kind, hex] of await rows(db, "SELECT id, kind, encode(cert_der, 'hex') FROM issuers")) {
      const der = new Uint8Array(Buffer.from(hex!, 'hex'));
      issuers.set(id!, der);
      note(`${db}: issuer ${id} (${kind})`, lintCertificate(der, ISSUER_KIND[kind!] ?? guessProfile(der)));
    }
    for (const [issuer, number, hex] of await rows(db, "SELECT issuer_id, number, encode(der, 'hex') FROM crls")) {
      note(`${db}: CRL #${number} of ${issuer}`, lintCrl(new Uint8Array(Buffer.from(hex!, 'hex')), issuers.get(issuer!)));
    }
    for (const [serial, profile, hex] of await rows(db, "SELECT serial, profile, encode(der, 'hex') FROM certificates")) {
      const der = new Uint8Array(Buffer.from(hex!, 'hex'));
      note(`${db}: certificate ${serial} (profile ${profile})`, lintCertificate(der, PROFILE_OF[profile!] ?? guessProfile(der)));
    }
  }
  return problems;
}
