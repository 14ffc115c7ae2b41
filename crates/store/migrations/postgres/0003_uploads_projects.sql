-- File uploads (tus), projects and their sessions, and jobs that only one machine can run
-- (an import reads a file that lives on the disk of the machine that received it).
ALTER TABLE jobs ADD COLUMN only_node TEXT;

CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    length        BIGINT NOT NULL,
    received      BIGINT NOT NULL DEFAULT 0,
    metadata      TEXT NOT NULL DEFAULT '',
    path          TEXT NOT NULL,
    node          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    migration_id  TEXT REFERENCES migrations (id) ON DELETE CASCADE
);
CREATE INDEX uploads_by_expiry ON uploads (expires_at_ms);

CREATE TABLE projects (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    notify        TEXT,
    lang          TEXT NOT NULL DEFAULT 'en',
    options       TEXT NOT NULL DEFAULT '{}',
    state         TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused')),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE project_sessions (
    token_hash    TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    csrf          TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX service_meta_by_project ON service_meta (project_id);
