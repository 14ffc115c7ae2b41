-- Uploads whose bytes live in the database (on PostgreSQL, for a cluster; the same tables here
-- so that both backends share one schema and one test suite, though the service on SQLite keeps
-- uploads in files). Chunks of about 1 MiB keyed by their first byte, deleted with their
-- upload. One writer at a time per upload: a short lease on the upload's row.
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN writer_until_ms INTEGER NOT NULL DEFAULT 0;

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    at_byte   INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (upload_id, at_byte)
);
