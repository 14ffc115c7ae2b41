-- passeur's store on PostgreSQL: the same tables as the SQLite schema after its step 0004.
-- Mail items are keyed by source folder + UIDVALIDITY + UID; other kinds use src_key (DAV
-- href, PST node id) with src_uid left NULL. `seq` columns give insertion order (SQLite's rowid).
CREATE TABLE migrations (
    id           TEXT PRIMARY KEY,
    seq          BIGSERIAL,
    created_at   BIGINT NOT NULL,
    source       TEXT NOT NULL,
    destination  TEXT NOT NULL,
    options      TEXT NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT
);
CREATE INDEX migrations_by_pair ON migrations (source, destination);

CREATE TABLE passes (
    migration_id  TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    number        BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    status        TEXT NOT NULL CHECK (status IN
                    ('running', 'done', 'incomplete', 'failed', 'stopped', 'interrupted')),
    copied        BIGINT NOT NULL DEFAULT 0,
    bytes         BIGINT NOT NULL DEFAULT 0,
    flags_updated BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    PRIMARY KEY (migration_id, number)
);

CREATE TABLE folders (
    migration_id      TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    src_name          TEXT NOT NULL,
    dst_name          TEXT NOT NULL,
    src_uidvalidity   BIGINT,
    src_uidnext       BIGINT,
    src_messages      BIGINT,
    src_highestmodseq BIGINT,
    dst_uidvalidity   BIGINT,
    complete          BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (migration_id, src_name)
);

CREATE TABLE items (
    migration_id    TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    src_folder      TEXT NOT NULL,
    src_key         TEXT NOT NULL,
    src_uidvalidity BIGINT,
    src_uid         BIGINT,
    fingerprint     TEXT NOT NULL,
    dst_folder      TEXT NOT NULL,
    dst_uidvalidity BIGINT,
    dst_uid         BIGINT,
    dst_key         TEXT,
    pass            BIGINT NOT NULL,
    size            BIGINT NOT NULL,
    flags           TEXT NOT NULL DEFAULT '',
    etag            TEXT,
    pending         BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (migration_id, kind, src_folder, src_key)
);
CREATE INDEX items_by_pass ON items (migration_id, pass);
CREATE INDEX items_by_dst ON items (migration_id, dst_folder, dst_uid);

CREATE TABLE failures (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    seq          BIGSERIAL,
    pass         BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    folder       TEXT NOT NULL,
    src_key      TEXT NOT NULL,
    size         BIGINT,
    reason       TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX failures_by_pass ON failures (migration_id, pass);

CREATE TABLE dav_collections (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    src_href     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    dst_href     TEXT NOT NULL,
    sync_token   TEXT,
    PRIMARY KEY (migration_id, src_href)
);

CREATE TABLE purged (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    src_folder   TEXT NOT NULL,
    src_key      TEXT NOT NULL,
    pass         BIGINT NOT NULL,
    PRIMARY KEY (migration_id, kind, src_folder, src_key)
);

-- The one runner allowed to write a migration's rows; `token` grows at every acquisition
-- and fences out a runner whose lease was taken over. Times are the server's clock.
CREATE TABLE leases (
    migration_id  TEXT PRIMARY KEY REFERENCES migrations (id) ON DELETE CASCADE,
    holder        TEXT NOT NULL,
    token         BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
