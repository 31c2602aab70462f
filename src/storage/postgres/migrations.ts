/**
 * PostgreSQL schema, as ordered migrations, and the routine that applies
 * them. The tables and their meaning are those of the SQLite schema
 * (../sqlite/migrations.ts): times are epoch milliseconds (BIGINT), DER is
 * BYTEA, JSON stays TEXT (the audit hash covers the exact text). Serials use
 * the "C" collation so that ORDER BY serial is byte order, as in SQLite,
 * whatever the database's default collation.
 *
 * Several nodes may start at once against one database: see applyMigrations.
 */
import type { Sql } from 'postgres';
import { transaction } from './pg-pool.js';

/** pg_advisory_lock key for migrations ("rampmigr" in ASCII). Never reuse it for anything else. */
export const MIGRATION_LOCK_KEY = 0x72616d70_6d696772n;

export const POSTGRES_MIGRATIONS: string[] = [
  `
  CREATE TABLE issuers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root','intermediate','ocsp-signer')),
    subject TEXT NOT NULL,
    parent_id TEXT REFERENCES issuers(id),
    cert_der BYTEA NOT NULL,
    key_ref TEXT NOT NULL,
    key_backend TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT false,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE certificates (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial TEXT COLLATE "C" NOT NULL CONSTRAINT certificates_serial_key UNIQUE,
    issuer_id TEXT NOT NULL REFERENCES issuers(id),
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,
    search TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    der BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good','revoked')),
    revoked_at BIGINT,
    revocation_reason INTEGER,
    crl_entry BYTEA,
    created_at BIGINT NOT NULL,
    requester TEXT NOT NULL
  );
  CREATE INDEX certificates_revoked ON certificates (issuer_id, status, serial);
  CREATE INDEX certificates_not_after ON certificates (not_after);
  CREATE TABLE idempotency (
    requester TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    serial TEXT COLLATE "C" NOT NULL REFERENCES certificates(serial),
    created_at BIGINT NOT NULL,
    CONSTRAINT idempotency_pkey PRIMARY KEY (requester, key)
  );
  CREATE TABLE crl_counters (
    issuer_id TEXT PRIMARY KEY REFERENCES issuers(id),
    last_number BIGINT NOT NULL
  );
  CREATE TABLE crls (
    issuer_id TEXT NOT NULL REFERENCES issuers(id),
    number BIGINT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der BYTEA NOT NULL,
    entries INTEGER NOT NULL,
    CONSTRAINT crls_pkey PRIMARY KEY (issuer_id, number)
  );
  CREATE TABLE api_tokens (
    id TEXT CONSTRAINT api_tokens_pkey PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL CONSTRAINT api_tokens_hash_key UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
  );
  CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    time BIGINT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE TABLE revocation_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial TEXT NOT NULL,
    issuer_id TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    last_seen BIGINT NOT NULL
  );
  CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT,
    epoch BIGINT NOT NULL,
    expires_at BIGINT
  );
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2: ACME (RFC 8555) state, as in the SQLite schema. JSON stays TEXT,
  // times are epoch ms; ids use the "C" collation so that keyset order is
  // byte order, as in SQLite.
  `
  CREATE TABLE acme_accounts (
    id TEXT COLLATE "C" CONSTRAINT acme_accounts_pkey PRIMARY KEY,
    key_thumbprint TEXT NOT NULL CONSTRAINT acme_accounts_key_thumbprint_key UNIQUE,
    jwk TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid','deactivated','revoked')),
    contact TEXT NOT NULL,
    eab_kid TEXT,
    created_from_ip TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE TABLE acme_orders (
    id TEXT COLLATE "C" CONSTRAINT acme_orders_pkey PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES acme_accounts(id),
    status TEXT NOT NULL CHECK (status IN ('pending','ready','processing','valid','invalid')),
    expires BIGINT NOT NULL,
    identifiers TEXT NOT NULL,
    authorization_ids TEXT NOT NULL,
    not_before BIGINT,
    not_after BIGINT,
    error TEXT,
    certificate_serial TEXT,
    replaces TEXT,
    csr_der BYTEA,
    processing_since BIGINT,
    created_at BIGINT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at DESC, id DESC);
  CREATE INDEX acme_orders_processing ON acme_orders (status, processing_since);
  CREATE INDEX acme_orders_replaces ON acme_orders (replaces) WHERE replaces IS NOT NULL;
  CREATE TABLE acme_authorizations (
    id TEXT COLLATE "C" CONSTRAINT acme_authorizations_pkey PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES acme_accounts(id),
    identifier_type TEXT NOT NULL CHECK (identifier_type IN ('dns','ip')),
    identifier_value TEXT NOT NULL,
    wildcard BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','valid','invalid','deactivated','expired','revoked')),
    expires BIGINT NOT NULL,
    challenges TEXT NOT NULL,
    processing_since BIGINT,
    created_at BIGINT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX acme_authorizations_reuse ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, status, expires);
  CREATE INDEX acme_authorizations_processing ON acme_authorizations (processing_since) WHERE processing_since IS NOT NULL;
  CREATE TABLE acme_nonces (
    nonce TEXT CONSTRAINT acme_nonces_pkey PRIMARY KEY,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX acme_nonces_expires ON acme_nonces (expires_at);
  CREATE TABLE acme_eab_keys (
    kid TEXT COLLATE "C" CONSTRAINT acme_eab_keys_pkey PRIMARY KEY,
    sealed_key BYTEA NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    bound_account_id TEXT,
    revoked_at BIGINT
  );
  CREATE TABLE acme_rate_events (
    bucket TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX acme_rate_events_bucket ON acme_rate_events (bucket, at);
  CREATE INDEX acme_rate_events_at ON acme_rate_events (at);
  `,
  // 3: regions (src/region/). One row says which region is active, at which
  // epoch (bumped by every failover) and on which timeline it was activated;
  // the active region's leader stamps region_heartbeats every second, and a
  // replica measures its lag by the age of the newest stamp it has replayed.
  `
  CREATE TABLE region_state (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    active_region TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    timeline INTEGER NOT NULL,
    changed_at BIGINT NOT NULL,
    reason TEXT NOT NULL
  );
  CREATE TABLE region_heartbeats (
    region TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    node TEXT NOT NULL,
    lsn TEXT NOT NULL
  );
  `,
  // 4: operators (issue 8): tokens may belong to an operator; disabling it revokes them.
  `
  CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
  );
  ALTER TABLE api_tokens ADD COLUMN operator_id TEXT REFERENCES operators(id);
  CREATE INDEX api_tokens_operator ON api_tokens (operator_id);
  `,
  // 5: inventory at scale (issue 17). Name search through a pg_trgm GIN
  // index on the search column (LIKE '%needle%' uses it; the recheck keeps
  // the exact semantics). pg_trgm is a trusted extension: the database owner
  // may create it. Status, issuer and profile get (value, seq) indexes so a
  // page in seq order is a range read.
  `
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  CREATE INDEX certificates_search_trgm ON certificates USING gin (search gin_trgm_ops);
  CREATE INDEX certificates_status_seq ON certificates (status, seq);
  CREATE INDEX certificates_issuer_seq ON certificates (issuer_id, seq);
  CREATE INDEX certificates_profile_seq ON certificates (profile, seq);
  `,
  // 6: CRL shards (issue 17), as in the SQLite schema: each certificate's
  // shard, fixed at issuance; rows from before get serial mod 16 (the last hex
  // digit). A CRL row's shard is NULL for the complete CRL.
  `
  ALTER TABLE certificates ADD COLUMN crl_shard INTEGER;
  UPDATE certificates SET crl_shard = strpos('0123456789abcdef', right(lower(serial), 1)) - 1;
  CREATE INDEX certificates_revoked_shard ON certificates (issuer_id, crl_shard, serial)
    INCLUDE (not_after, revoked_at, revocation_reason, crl_entry) WHERE status = 'revoked';
  ALTER TABLE crls ADD COLUMN shard INTEGER;
  CREATE INDEX crls_scope ON crls (issuer_id, shard, number);
  `,
  // 7: SSH certificate authorities (issue 21), as in the SQLite schema: the SSH CAs (keys in the key
  // backend), their certificates (serial: unsigned 64-bit, decimal text) and
  // each CA's latest KRL. `revocations` counts the CA's revocations: the
  // version of the next KRL, so a stale KRL never replaces a newer one.
  `
  CREATE TABLE ssh_cas (
    name TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('user','host')),
    algorithm TEXT NOT NULL,
    key_ref TEXT NOT NULL,
    key_backend TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    revocations BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE ssh_certificates (
    seq BIGSERIAL PRIMARY KEY,
    serial TEXT COLLATE "C" NOT NULL UNIQUE,
    ca_name TEXT NOT NULL REFERENCES ssh_cas(name),
    profile TEXT NOT NULL,
    cert_type TEXT NOT NULL CHECK (cert_type IN ('user','host')),
    key_id TEXT NOT NULL,
    principals TEXT NOT NULL,
    search TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    valid_after BIGINT NOT NULL,
    valid_before BIGINT NOT NULL,
    cert BYTEA NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good','revoked')),
    revoked_at BIGINT,
    created_at BIGINT NOT NULL,
    requester TEXT NOT NULL
  );
  CREATE INDEX ssh_certificates_revoked ON ssh_certificates (ca_name, status, valid_before);
  CREATE TABLE ssh_krls (
    ca_name TEXT PRIMARY KEY REFERENCES ssh_cas(name),
    version BIGINT NOT NULL,
    generated_at BIGINT NOT NULL,
    krl BYTEA NOT NULL
  );
  `,
  // Re-issuance campaigns (issue 20, `rampart pki rebuild`): as in the SQLite schema.
  `
  CREATE TABLE reissue_campaigns (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root-loss','intermediate-compromise')),
    state TEXT NOT NULL CHECK (state IN ('active','finished')),
    old_issuers TEXT NOT NULL,
    new_issuers TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    deadline BIGINT,
    finished_at BIGINT,
    finish_note TEXT
  );
  CREATE TABLE reissue_items (
    campaign_id TEXT NOT NULL REFERENCES reissue_campaigns(id),
    serial TEXT COLLATE "C" NOT NULL,
    channel TEXT NOT NULL,
    requester TEXT NOT NULL,
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans_key TEXT NOT NULL,
    not_after BIGINT NOT NULL,
    replaced_by TEXT,
    replaced_at BIGINT,
    PRIMARY KEY (campaign_id, serial)
  );
  CREATE INDEX reissue_items_match ON reissue_items (campaign_id, requester, sans_key);
  `,
  // Expiry order with the serial (issue 17), as in the SQLite schema: tidy
  // reads the oldest expired certificates in (not_after, serial) order, a
  // batch at a time; with an index on not_after alone every batch sorted all
  // expired rows. This one gives the order and serves every not_after range.
  // Removing a certificate deletes its revocation events and idempotency
  // claims by serial, and checks the foreign key from idempotency: indexes on
  // serial, so that none of these scans a whole table per certificate.
  `
  CREATE INDEX certificates_expiry ON certificates (not_after, serial);
  DROP INDEX certificates_not_after;
  CREATE INDEX revocation_events_serial ON revocation_events (serial);
  CREATE INDEX idempotency_serial ON idempotency (serial);
  `,
];

/**
 * Applies the missing migrations, one transaction each, every one under the
 * migration advisory lock (transaction-scoped: pg_advisory_xact_lock, so it
 * is released by COMMIT, ROLLBACK or a lost connection alike, and no session
 * lock can outlive a node that died while migrating). Inside the lock the
 * transaction reads the current version and applies the next migration, if
 * any: with several nodes starting at once, exactly one applies each
 * migration and the others find it done. A failed migration rolls back and
 * leaves its version unrecorded, so the next start tries it again.
 * (A future migration that cannot run inside a transaction, such as CREATE
 * INDEX CONCURRENTLY, will need a session lock on a dedicated connection.)
 * Returns how many migrations this call applied.
 */
/** Read-only check (a hot standby cannot migrate): throws unless the schema is exactly this build's. */
export async function checkSchemaVersion(sql: Sql, migrations: string[] = POSTGRES_MIGRATIONS): Promise<number> {
  const [t] = await sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`;
  const [row] = t!.present ? await sql`SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations` : [{ v: 0 }];
  const current = Number(row!.v);
  if (current !== migrations.length) {
    throw new Error(`the database is a read-only replica with schema version ${current}, and this build needs ${migrations.length}: `
      + (current < migrations.length ? 'upgrade the primary region first (its nodes migrate), then let the replica catch up' : 'upgrade this node'));
  }
  return current;
}

export async function applyMigrations(sql: Sql, migrations: string[] = POSTGRES_MIGRATIONS): Promise<number> {
  let applied = 0;
  for (;;) {
    const did = await transaction(sql, async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`;
      // Created under the lock: CREATE TABLE IF NOT EXISTS itself races between sessions.
      await tx.unsafe('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const [row] = await tx`SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations`;
      const current = Number(row!.v);
      if (current > migrations.length) {
        throw new Error(`database schema version ${current} is newer than this build knows (${migrations.length}): upgrade this node`);
      }
      if (current === migrations.length) return false;
      await tx.unsafe(migrations[current]!);
      await tx`INSERT INTO schema_migrations (version, applied_at) VALUES (${current + 1}, (extract(epoch from clock_timestamp())*1000)::bigint)`;
      return true;
    });
    if (!did) return applied;
    applied++;
  }
}
