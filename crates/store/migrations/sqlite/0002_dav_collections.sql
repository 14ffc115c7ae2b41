-- CalDAV/CardDAV account-to-account copies: which destination collection each source
-- collection goes to, and the source's sync token (RFC 6578) after the last pass.
-- For DAV items the item map's `flags` column holds the destination ETag.
CREATE TABLE dav_collections (
    migration_id TEXT NOT NULL REFERENCES migrations (id) ON DELETE CASCADE,
    src_href     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    dst_href     TEXT NOT NULL,
    sync_token   TEXT,
    PRIMARY KEY (migration_id, src_href)
);
