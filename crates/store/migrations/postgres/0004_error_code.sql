-- A stable word for why a migration failed (auth, tls, unreachable, ...), beside its text,
-- so that pages can say it in their own language.
ALTER TABLE migrations ADD COLUMN error_code TEXT;
