/*
 * The schema, as an append-only list of migrations.  Migration N brings the
 * database to PRAGMA user_version N.  Never edit a migration that has
 * shipped: add the next one.  See dev/store-schema.md.
 */
#include "membershipd/store/schema.h"

#include <stddef.h>

static const char *const MIGRATIONS[] = {
    /* 1: the whole product's tables. */
    "CREATE TABLE users ("
    "  id          INTEGER PRIMARY KEY,"
    "  name        TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),"
    "  public_key  BLOB    NOT NULL UNIQUE CHECK (length(public_key) = 32),"
    "  role        TEXT    NOT NULL CHECK (role IN ('admin', 'member')),"
    "  created_at  INTEGER NOT NULL,"
    "  revoked_at  INTEGER"
    ") STRICT;"
    "CREATE TABLE rooms ("
    "  id          TEXT    PRIMARY KEY CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
    "  name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 128),"
    "  mode        TEXT    NOT NULL CHECK (mode IN ('e2e', 'cleartext')),"
    "  signed      INTEGER NOT NULL DEFAULT 1 CHECK (signed IN (0, 1)),"
    "  key_epoch   INTEGER NOT NULL DEFAULT 1 CHECK (key_epoch >= 1),"
    "  owner_id    INTEGER NOT NULL REFERENCES users (id),"
    "  created_at  INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE room_members ("
    "  room_id     TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,"
    "  user_id     INTEGER NOT NULL REFERENCES users (id),"
    "  added_at    INTEGER NOT NULL,"
    "  PRIMARY KEY (room_id, user_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX room_members_by_user ON room_members (user_id);"
    "CREATE TABLE room_keys ("
    "  room_id     TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,"
    "  epoch       INTEGER NOT NULL CHECK (epoch >= 1),"
    "  user_id     INTEGER NOT NULL REFERENCES users (id),"
    "  sealed_key  BLOB    NOT NULL CHECK (length(sealed_key) BETWEEN 1 AND 1024),"
    "  created_at  INTEGER NOT NULL,"
    "  PRIMARY KEY (room_id, epoch, user_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE blobs ("
    "  room_id     TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,"
    "  sha256      BLOB    NOT NULL CHECK (length(sha256) = 32),"
    "  size        INTEGER NOT NULL CHECK (size >= 0),"
    "  owner_id    INTEGER NOT NULL REFERENCES users (id),"
    "  created_at  INTEGER NOT NULL,"
    "  content     BLOB    NOT NULL,"
    "  PRIMARY KEY (room_id, sha256)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE audit_log ("
    "  id          INTEGER PRIMARY KEY,"
    "  at          INTEGER NOT NULL,"
    "  actor       TEXT    NOT NULL,"
    "  action      TEXT    NOT NULL,"
    "  target      TEXT    NOT NULL,"
    "  outcome     TEXT    NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),"
    "  peer_ip     TEXT,"
    "  request_id  TEXT"
    ") STRICT;"
    "CREATE INDEX audit_log_by_time ON audit_log (at);"
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "PRAGMA user_version = 1;",
    /* 2: the latest signed-request time accepted, or above it
     * (dev/signed-requests.md, "Restarts"). */
    "CREATE TABLE request_time_floor ("
    "  id          INTEGER PRIMARY KEY CHECK (id = 1),"
    "  time_ms     INTEGER NOT NULL"
    ") STRICT;"
    "INSERT INTO request_time_floor (id, time_ms) VALUES (1, 0);"
    "PRAGMA user_version = 2;",
    /* 3: blob content in 64 KiB chunks, so a download reads one chunk at a
     * time (dev/blobs.md); an index to sum what each user stores (the
     * quota).  Existing content is split by SQL, once. */
    "CREATE TABLE blob_chunks ("
    "  room_id     TEXT    NOT NULL,"
    "  sha256      BLOB    NOT NULL,"
    "  seq         INTEGER NOT NULL CHECK (seq >= 0),"
    "  data        BLOB    NOT NULL CHECK (length(data) BETWEEN 1 AND 65536),"
    "  PRIMARY KEY (room_id, sha256, seq),"
    "  FOREIGN KEY (room_id, sha256) REFERENCES blobs (room_id, sha256) ON DELETE CASCADE"
    ") STRICT;"
    "WITH RECURSIVE chunk (room_id, sha256, seq) AS ("
    "  SELECT room_id, sha256, 0 FROM blobs WHERE size > 0"
    "  UNION ALL SELECT chunk.room_id, chunk.sha256, chunk.seq + 1 FROM chunk"
    "  JOIN blobs USING (room_id, sha256) WHERE (chunk.seq + 1) * 65536 < blobs.size)"
    "INSERT INTO blob_chunks (room_id, sha256, seq, data)"
    "  SELECT room_id, sha256, seq, substr(content, seq * 65536 + 1, 65536) FROM chunk JOIN blobs USING (room_id, sha256);"
    "ALTER TABLE blobs DROP COLUMN content;"
    "CREATE INDEX blobs_by_owner ON blobs (owner_id, size);"
    "PRAGMA user_version = 3;",
    /* 4: the bus PKI (dev/pki.md): the CA with its key sealed under a key
     * that is never in the database, the certificates it issued, and join
     * tokens, of which only the public half of the token key is kept. */
    "CREATE TABLE ca ("
    "  id           INTEGER PRIMARY KEY CHECK (id = 1),"
    "  trust_domain TEXT    NOT NULL CHECK (length(trust_domain) BETWEEN 1 AND 253),"
    "  cert_pem     TEXT    NOT NULL,"
    "  key_sealed   BLOB    NOT NULL,"
    "  created_at   INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE certs ("
    "  serial       TEXT    PRIMARY KEY CHECK (length(serial) = 32 AND serial NOT GLOB '*[^0-9a-f]*'),"
    "  name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
    "  role         TEXT    NOT NULL CHECK (role IN ('node', 'client')),"
    "  dns          TEXT    NOT NULL,"
    "  ip           TEXT    NOT NULL,"
    "  not_before   INTEGER NOT NULL,"
    "  not_after    INTEGER NOT NULL,"
    "  spki_sha256  BLOB    NOT NULL CHECK (length(spki_sha256) = 32),"
    "  cert_pem     TEXT    NOT NULL,"
    "  issued_at    INTEGER NOT NULL,"
    "  revoked_at   INTEGER"
    ") STRICT;"
    "CREATE INDEX certs_by_name ON certs (name, issued_at);"
    "CREATE TABLE join_tokens ("
    "  token_key    BLOB    PRIMARY KEY CHECK (length(token_key) = 32),"
    "  role         TEXT    NOT NULL CHECK (role IN ('node', 'member')),"
    "  name         TEXT    NOT NULL,"
    "  dns          TEXT    NOT NULL,"
    "  ip           TEXT    NOT NULL,"
    "  created_at   INTEGER NOT NULL,"
    "  expires_at   INTEGER NOT NULL,"
    "  used_at      INTEGER,"
    "  used_by      TEXT,"
    "  revoked_at   INTEGER"
    ") STRICT, WITHOUT ROWID;"
    "PRAGMA user_version = 4;",
    /* 5: the last entry of the bus log applied to this database, in the
     * entry's own transaction (dev/control-log.md); local, never logged. */
    "CREATE TABLE log_state ("
    "  id           INTEGER PRIMARY KEY CHECK (id = 1),"
    "  applied_seq  INTEGER NOT NULL CHECK (applied_seq >= 0),"
    "  attached     INTEGER NOT NULL DEFAULT 0 CHECK (attached IN (0, 1))"
    ") STRICT;"
    "INSERT INTO log_state (id, applied_seq) VALUES (1, 0);"
    "PRAGMA user_version = 5;",
    /* 6: the log entry whose snapshot this database took as its base (0:
     * none yet: it applies no entry but a base, takes no write).  A store
     * that applied entries of a log from before base snapshots has its
     * state already: entry 1 counts as its base. */
    "ALTER TABLE log_state ADD COLUMN base_seq INTEGER NOT NULL DEFAULT 0 CHECK (base_seq >= 0);"
    "UPDATE log_state SET base_seq = 1 WHERE applied_seq > 0;"
    "PRAGMA user_version = 6;",
    /* 7: which log the store follows (entry 1's time, ns; 0:
     * none known) and the cluster it belongs to ('' for a single node):
     * a store never silently changes bus (dev/control-log.md, "Which log"). */
    "ALTER TABLE log_state ADD COLUMN log_id INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE log_state ADD COLUMN cluster TEXT NOT NULL DEFAULT '';"
    "PRAGMA user_version = 7;",
    /* 8: the users' children by user: while a base goes in (foreign keys
     * deferred, rooms before users), each user inserted looked for the
     * rooms and room keys naming it by a full scan: 10,000 users took
     * 3.2 s, 0.3 s with these (dev/bench.md, case 6). */
    "CREATE INDEX rooms_by_owner ON rooms (owner_id);"
    "CREATE INDEX room_keys_by_user ON room_keys (user_id);"
    "PRAGMA user_version = 8;",
};

int schema_version_latest(void)
{
    return (int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]);
}

const char *schema_migration(int version)
{
    if (version < 1 || version > schema_version_latest())
        return NULL;
    return MIGRATIONS[version - 1];
}
