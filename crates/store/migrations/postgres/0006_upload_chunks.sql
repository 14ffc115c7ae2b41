-- Uploads whose bytes live in the database (a cluster: any `serve` takes the next PATCH, any
-- worker imports), in chunks of about 1 MiB keyed by their first byte, deleted with their
-- upload (and so with its migration). One writer at a time per upload, across processes: a
-- short lease on the upload's row, renewed by every chunk written, fences the chunk writes.
ALTER TABLE uploads ADD COLUMN writer TEXT;
ALTER TABLE uploads ADD COLUMN writer_until_ms BIGINT NOT NULL DEFAULT 0;

CREATE TABLE upload_chunks (
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    at_byte   BIGINT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (upload_id, at_byte)
);
-- Files are mostly compressed already: store the chunks out of line, uncompressed.
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
