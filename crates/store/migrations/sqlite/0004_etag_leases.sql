-- The destination ETag of DAV items gets its own column (it lived in `flags`), and each
-- migration gets a lease: the one runner allowed to write its rows, with a fencing token
-- that grows at every acquisition.
ALTER TABLE items ADD COLUMN etag TEXT;
UPDATE items SET etag = NULLIF(flags, ''), flags = '' WHERE kind <> 'mail';

CREATE TABLE leases (
    migration_id  TEXT PRIMARY KEY REFERENCES migrations (id) ON DELETE CASCADE,
    holder        TEXT NOT NULL,
    token         INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
