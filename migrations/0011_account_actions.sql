-- Connecting accounts from the review page.

-- Who connected, reconnected or disconnected an account, and when: a reviewer's act, kept
-- like the decisions on a draft.
CREATE TABLE account_actions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    -- 'connect' (a new account), 'reconnect' (a new token for a known one), 'disconnect'.
    action      TEXT NOT NULL CHECK (action IN ('connect', 'reconnect', 'disconnect')),
    -- 'instagram' (Instagram Login) or 'facebook' (a pasted token).
    login       TEXT,
    reviewer    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX account_actions_by_account ON account_actions (account_id, id);

-- The `state` of an Instagram Login under way: its SHA-256 (never the value), the reviewer
-- and the session (by the SHA-256 of its id) it is bound to, and when it lapses. Used once:
-- the callback deletes it as it reads it.
CREATE TABLE oauth_states (
    state_sha256   TEXT PRIMARY KEY,
    reviewer       TEXT NOT NULL,
    session_sha256 TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

-- The drafts of some accounts, newest first (the list filtered by account, and a reviewer
-- limited to some accounts), by status and in all; NULL is the default account's.
CREATE INDEX drafts_by_account_created ON drafts (account_id, created_at);
CREATE INDEX drafts_by_account_status_created ON drafts (account_id, status, created_at);
