-- A side that waits for its owner's sign-in (OAuth 2.0) before the first pass: a project row
-- of a provider that takes no password (Microsoft 365), created without a token.
ALTER TABLE service_meta ADD COLUMN source_sign_in INTEGER NOT NULL DEFAULT 0;
ALTER TABLE service_meta ADD COLUMN destination_sign_in INTEGER NOT NULL DEFAULT 0;
