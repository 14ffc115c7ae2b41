-- A stable word for why a migration failed (auth, tls, unreachable, ...), beside its text,
-- so that pages can say it in their own language.
ALTER TABLE migrations ADD COLUMN error_code TEXT;

-- When a project's contact was told that it will expire (a login after it starts the count again).
ALTER TABLE projects ADD COLUMN expiry_warned_at_ms INTEGER;

-- Failed attempts per key (a client address) in a time window, shared by every process.
CREATE TABLE throttle (
    key      TEXT PRIMARY KEY,
    since_ms INTEGER NOT NULL,
    count    INTEGER NOT NULL
);
