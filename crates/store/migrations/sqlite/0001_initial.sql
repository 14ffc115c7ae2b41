-- passeur's embedded store. Mail items are keyed by source folder + UIDVALIDITY + UID;
-- other kinds use src_key (DAV href, PST node id) with src_uid left NULL.
CREATE TABLE migrations (
    id           TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    source       TEXT NOT NULL,
    destination  TEXT NOT NULL,
    options      TEXT NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT
);
CREATE INDEX migrations_by_pair ON migrations (source, destination);

CREATE TABLE passes (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    status       TEXT NOT NULL,
    copied       INTEGER NOT NULL DEFAULT 0,
    bytes        INTEGER NOT NULL DEFAULT 0,
    flags_updated INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    PRIMARY KEY (migration_id, number)
);

CREATE TABLE folders (
    migration_id     TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    src_name         TEXT NOT NULL,
    dst_name         TEXT NOT NULL,
    src_uidvalidity  INTEGER,
    src_uidnext      INTEGER,
    src_messages     INTEGER,
    src_highestmodseq INTEGER,
    dst_uidvalidity  INTEGER,
    complete         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (migration_id, src_name)
);

CREATE TABLE items (
    migration_id    TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    src_folder      TEXT NOT NULL,
    src_key         TEXT NOT NULL,
    src_uidvalidity INTEGER,
    src_uid         INTEGER,
    fingerprint     TEXT NOT NULL,
    dst_folder      TEXT NOT NULL,
    dst_uidvalidity INTEGER,
    dst_uid         INTEGER,
    dst_key         TEXT,
    pass            INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    flags           TEXT NOT NULL DEFAULT '',
    pending         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (migration_id, kind, src_folder, src_key)
);
CREATE INDEX items_by_pass ON items (migration_id, pass);
CREATE INDEX items_by_dst ON items (migration_id, dst_folder, dst_uid);

CREATE TABLE failures (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    pass         INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    folder       TEXT NOT NULL,
    src_key      TEXT NOT NULL,
    size         INTEGER,
    reason       TEXT NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX failures_by_pass ON failures (migration_id, pass);
