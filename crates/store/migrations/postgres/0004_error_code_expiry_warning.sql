-- A stable word for why a migration failed (auth, tls, unreachable, ...), beside its text,
-- so that pages can say it in their own language.
ALTER TABLE migrations ADD COLUMN error_code TEXT;

-- When a project's contact was told that it will expire (a login after it starts the count again).
ALTER TABLE projects ADD COLUMN expiry_warned_at_ms BIGINT;
