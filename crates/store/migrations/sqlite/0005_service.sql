-- The service's tables: durable jobs (with the hosts each one connects to, for the per-host
-- connection limits), each migration's sealed credentials, and what the service keeps about
-- a migration beyond the engine's spec (notification address, language, project).
CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT NOT NULL,
    migration_id   TEXT REFERENCES migrations (id) ON DELETE CASCADE,
    payload        TEXT NOT NULL DEFAULT '{}',
    state          TEXT NOT NULL CHECK (state IN
                     ('queued', 'scheduled', 'running', 'paused', 'stopped', 'completed', 'failed')),
    run_at_ms      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL,
    connections    INTEGER NOT NULL DEFAULT 1,
    project_id     TEXT,
    project_limit  INTEGER,
    holder         TEXT,
    token          INTEGER NOT NULL DEFAULT 0,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    progress       TEXT,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs (state, run_at_ms);
CREATE INDEX jobs_by_migration ON jobs (migration_id);
CREATE INDEX jobs_by_project ON jobs (project_id);

CREATE TABLE job_hosts (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    host   TEXT NOT NULL,
    PRIMARY KEY (job_id, host)
);
CREATE INDEX job_hosts_by_host ON job_hosts (host);

CREATE TABLE credentials (
    migration_id  TEXT PRIMARY KEY REFERENCES migrations (id) ON DELETE CASCADE,
    sealed        TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE service_meta (
    migration_id TEXT PRIMARY KEY REFERENCES migrations (id) ON DELETE CASCADE,
    notify       TEXT,
    lang         TEXT NOT NULL DEFAULT 'en',
    project_id   TEXT
);
