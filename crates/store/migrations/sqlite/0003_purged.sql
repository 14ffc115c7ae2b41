-- Items a purge deleted from the destination. A later pass leaves them alone: "synchronise"
-- copies what is new on the source, and these are not new. `migrate --new` starts afresh.
CREATE TABLE purged (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    src_folder   TEXT NOT NULL,
    src_key      TEXT NOT NULL,
    pass         INTEGER NOT NULL,
    PRIMARY KEY (migration_id, kind, src_folder, src_key)
);
