-- "Sign in with ..." in the service: the pending authorization requests (state and PKCE
-- verifier) and the tokens a browser signed in with, until a migration takes them. Keys and
-- owners are SHA-256 hashes; `data` is sealed by the service. Short-lived rows.
CREATE TABLE oauth_signins (
    key_hash      TEXT PRIMARY KEY,
    owner_hash    TEXT NOT NULL,
    data          TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX oauth_signins_by_expiry ON oauth_signins (expires_at_ms);
