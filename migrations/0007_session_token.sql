-- A session remembers which token made it: a fingerprint (SHA-256 of the session id and the
-- token, so the table alone cannot be used to guess a token), never the token. A request
-- whose reviewer's token has changed or gone ends the session. Sessions from before this
-- migration have no fingerprint and end at their next request.
ALTER TABLE review_sessions ADD COLUMN token_fingerprint TEXT NOT NULL DEFAULT '';

-- "Sign out everywhere" deletes a reviewer's sessions by name.
CREATE INDEX review_sessions_by_reviewer ON review_sessions (reviewer);
