-- Signed-in reviewers on the review page. The cookie carries a random session id; only its
-- SHA-256 is stored, so a leaked table does not sign anyone in. Signing out deletes the row.
CREATE TABLE review_sessions (
    id_hash    TEXT PRIMARY KEY,
    reviewer   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX review_sessions_by_expiry ON review_sessions (expires_at);
