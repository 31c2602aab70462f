/** SQLite schema, as ordered migrations. Times are stored as epoch milliseconds. */
export const SQLITE_MIGRATIONS: string[] = [
  `
  CREATE TABLE issuers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root','intermediate','ocsp-signer')),
    subject TEXT NOT NULL,
    parent_id TEXT REFERENCES issuers(id),
    cert_der BLOB NOT NULL,
    key_ref TEXT NOT NULL,
    key_backend TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE certificates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT NOT NULL UNIQUE,
    issuer_id TEXT NOT NULL REFERENCES issuers(id),
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,
    search TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    der BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good','revoked')),
    revoked_at INTEGER,
    revocation_reason INTEGER,
    crl_entry BLOB,
    created_at INTEGER NOT NULL,
    requester TEXT NOT NULL
  );
  CREATE INDEX certificates_revoked ON certificates (issuer_id, status, serial);
  CREATE INDEX certificates_not_after ON certificates (not_after);
  CREATE TABLE idempotency (
    requester TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    serial TEXT NOT NULL REFERENCES certificates(serial),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (requester, key)
  );
  CREATE TABLE crl_counters (
    issuer_id TEXT PRIMARY KEY REFERENCES issuers(id),
    last_number INTEGER NOT NULL
  );
  CREATE TABLE crls (
    issuer_id TEXT NOT NULL REFERENCES issuers(id),
    number INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der BLOB NOT NULL,
    entries INTEGER NOT NULL,
    PRIMARY KEY (issuer_id, number)
  );
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
  );
  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
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
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT NOT NULL,
    issuer_id TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TABLE cluster_nodes (
    id TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    last_seen INTEGER NOT NULL
  );
  CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT,
    epoch INTEGER NOT NULL,
    expires_at INTEGER
  );
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 2: ACME (RFC 8555) state. JSON as TEXT, times as epoch ms.
  `
  CREATE TABLE acme_accounts (
    id TEXT PRIMARY KEY,
    key_thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid','deactivated','revoked')),
    contact TEXT NOT NULL,
    eab_kid TEXT,
    created_from_ip TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE TABLE acme_orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    status TEXT NOT NULL CHECK (status IN ('pending','ready','processing','valid','invalid')),
    expires INTEGER NOT NULL,
    identifiers TEXT NOT NULL,
    authorization_ids TEXT NOT NULL,
    not_before INTEGER,
    not_after INTEGER,
    error TEXT,
    certificate_serial TEXT,
    replaces TEXT,
    csr_der BLOB,
    processing_since INTEGER,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at DESC, id DESC);
  CREATE INDEX acme_orders_processing ON acme_orders (status, processing_since);
  CREATE INDEX acme_orders_replaces ON acme_orders (replaces) WHERE replaces IS NOT NULL;
  CREATE TABLE acme_authorizations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES acme_accounts(id),
    identifier_type TEXT NOT NULL CHECK (identifier_type IN ('dns','ip')),
    identifier_value TEXT NOT NULL,
    wildcard INTEGER NOT NULL CHECK (wildcard IN (0,1)),
    status TEXT NOT NULL CHECK (status IN ('pending','valid','invalid','deactivated','expired','revoked')),
    expires INTEGER NOT NULL,
    challenges TEXT NOT NULL,
    processing_since INTEGER,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX acme_authorizations_reuse ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, status, expires);
  CREATE INDEX acme_authorizations_processing ON acme_authorizations (processing_since) WHERE processing_since IS NOT NULL;
  CREATE TABLE acme_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX acme_nonces_expires ON acme_nonces (expires_at);
  CREATE TABLE acme_eab_keys (
    kid TEXT PRIMARY KEY,
    sealed_key BLOB NOT NULL,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    bound_account_id TEXT,
    revoked_at INTEGER
  );
  CREATE TABLE acme_rate_events (
    bucket TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX acme_rate_events_bucket ON acme_rate_events (bucket, at);
  CREATE INDEX acme_rate_events_at ON acme_rate_events (at);
  `,
  // operators (issue 8): tokens may belong to an operator; disabling it revokes them.
  `
  CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
  );
  ALTER TABLE api_tokens ADD COLUMN operator_id TEXT REFERENCES operators(id);
  CREATE INDEX api_tokens_operator ON api_tokens (operator_id);
  `,
  // 4: inventory at scale (issue 17). Name search through an FTS5 trigram
  // index of the search column (external content: the index only, no copy of
  // the text), kept by triggers in the transaction of each insert, delete or
  // change, and filled here for the rows already stored. case_sensitive 1:
  // the column and the needle are both lower-cased already, so a phrase match
  // is exactly "contains". Status, issuer and profile get indexes that SQLite
  // keeps in seq (rowid) order within each value, so a page is a range read.
  `
  CREATE VIRTUAL TABLE certificates_search USING fts5(search, content='certificates', content_rowid='seq', tokenize='trigram case_sensitive 1');
  INSERT INTO certificates_search (certificates_search) VALUES ('rebuild');
  CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificates_search (rowid, search) VALUES (new.seq, new.search);
  END;
  CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates BEGIN
    INSERT INTO certificates_search (certificates_search, rowid, search) VALUES ('delete', old.seq, old.search);
  END;
  CREATE TRIGGER certificates_search_update AFTER UPDATE OF search ON certificates BEGIN
    INSERT INTO certificates_search (certificates_search, rowid, search) VALUES ('delete', old.seq, old.search);
    INSERT INTO certificates_search (rowid, search) VALUES (new.seq, new.search);
  END;
  CREATE INDEX certificates_status ON certificates (status);
  CREATE INDEX certificates_issuer ON certificates (issuer_id);
  CREATE INDEX certificates_profile ON certificates (profile);
  `,
  // 5: CRL shards (issue 17): each certificate's shard, fixed at issuance; rows
  // from before get serial mod 16 (the last hex digit, the default of
  // crl.shards). Their CDP still names the complete CRL, which keeps listing
  // them. A CRL row's shard is NULL for the complete CRL. The shard index
  // covers what a CRL reads (revoked rows only), so a shard's entries are
  // read from the index alone, in order.
  `
  ALTER TABLE certificates ADD COLUMN crl_shard INTEGER;
  UPDATE certificates SET crl_shard = instr('0123456789abcdef', substr(lower(serial), -1)) - 1;
  CREATE INDEX certificates_revoked_shard ON certificates (issuer_id, crl_shard, serial, not_after, revoked_at, revocation_reason, crl_entry) WHERE status = 'revoked';
  ALTER TABLE crls ADD COLUMN shard INTEGER;
  CREATE INDEX crls_scope ON crls (issuer_id, shard, number);
  `,
  // 6: SSH certificate authorities (issue 21): the SSH CAs (keys in the key
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
    public_key BLOB NOT NULL,
    revocations INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE ssh_certificates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT NOT NULL UNIQUE,
    ca_name TEXT NOT NULL REFERENCES ssh_cas(name),
    profile TEXT NOT NULL,
    cert_type TEXT NOT NULL CHECK (cert_type IN ('user','host')),
    key_id TEXT NOT NULL,
    principals TEXT NOT NULL,
    search TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    valid_after INTEGER NOT NULL,
    valid_before INTEGER NOT NULL,
    cert BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('good','revoked')),
    revoked_at INTEGER,
    created_at INTEGER NOT NULL,
    requester TEXT NOT NULL
  );
  CREATE INDEX ssh_certificates_revoked ON ssh_certificates (ca_name, status, valid_before);
  CREATE TABLE ssh_krls (
    ca_name TEXT PRIMARY KEY REFERENCES ssh_cas(name),
    version INTEGER NOT NULL,
    generated_at INTEGER NOT NULL,
    krl BLOB NOT NULL
  );
  `,
  // Re-issuance campaigns (issue 20, `rampart pki rebuild`): a campaign
  // lists every unexpired certificate of a hierarchy being replaced (root
  // loss, intermediate compromise) and records which new certificate
  // replaced each one.
  `
  CREATE TABLE reissue_campaigns (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root-loss','intermediate-compromise')),
    state TEXT NOT NULL CHECK (state IN ('active','finished')),
    old_issuers TEXT NOT NULL,
    new_issuers TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    deadline INTEGER,
    finished_at INTEGER,
    finish_note TEXT
  );
  CREATE TABLE reissue_items (
    campaign_id TEXT NOT NULL REFERENCES reissue_campaigns(id),
    serial TEXT NOT NULL,
    channel TEXT NOT NULL,
    requester TEXT NOT NULL,
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans_key TEXT NOT NULL,
    not_after INTEGER NOT NULL,
    replaced_by TEXT,
    replaced_at INTEGER,
    PRIMARY KEY (campaign_id, serial)
  );
  CREATE INDEX reissue_items_match ON reissue_items (campaign_id, requester, sans_key);
  `,
  // Expiry order with the serial (issue 17): tidy reads the oldest expired
  // certificates in (not_after, serial) order, a batch at a time. With an
  // index on not_after alone, every batch read and sorted every expired row
  // (at 10M certificates, 1M expired: about a minute per batch of 1,000,
  // measured). This index gives that order and stops at the batch's end;
  // it also serves every not_after range the old one did. Removing a
  // certificate also deletes its revocation events and idempotency claims by
  // serial, and the foreign key from idempotency is checked on every delete:
  // without an index on serial each was a scan of the whole table, per
  // certificate (1M revocation events at 10M).
  `
  CREATE INDEX certificates_expiry ON certificates (not_after, serial);
  DROP INDEX certificates_not_after;
  CREATE INDEX revocation_events_serial ON revocation_events (serial);
  CREATE INDEX idempotency_serial ON idempotency (serial);
  `,
  // Status with expiry (issue 17): the inventory's status=good and
  // expiringWithinDays filters are a status and a not_after range. Their
  // page totals are counted in this index alone, and a filter with few
  // matches reads its page's seqs from it (sqlite-inventory.ts). Before, at
  // 10M certificates, a status=good total read 10,000 rows for their
  // not_after (87 ms, cold), and a status=expired page after tidy walked the
  // whole table in seq order looking for the few left (270-295 ms at 1M).
  `
  CREATE INDEX certificates_status_expiry ON certificates (status, not_after);
  `,
  // CRLs stored in parts (issue 17): a CRL larger than one part keeps its
  // bytes in crl_parts, written one part per group commit, and its crls row
  // (parts > 0, der empty) is written last, which publishes it (written_at
  // comes before the bytes: reading it never walks a part's overflow pages). At 1M
  // revoked, the complete CRL (47 MB) stored as one row held the thread that
  // answers OCSP for 240-330 ms per save, and a 3 MB shard for 5-46 ms.
  `
  ALTER TABLE crls ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE crls ADD COLUMN size INTEGER;
  CREATE TABLE crl_parts (
    issuer_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    part INTEGER NOT NULL,
    written_at INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (issuer_id, number, part)
  );
  `,
];
