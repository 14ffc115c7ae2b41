-- What was mended on the way for an item that arrived (a repair after the destination refused
-- it, a line skipped while reading it), or skipped in a file outside any item. Once per
-- (item, note): a later pass that meets the same thing adds nothing.
CREATE TABLE item_notes (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    seq          BIGSERIAL,
    pass         BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    folder       TEXT NOT NULL,
    src_key      TEXT NOT NULL,
    repaired     BOOLEAN NOT NULL,
    note         TEXT NOT NULL,
    at           BIGINT NOT NULL,
    UNIQUE (migration_id, kind, folder, src_key, note)
);
