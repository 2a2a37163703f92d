-- Instagram accounts, each with its own token, encrypted at rest (crates/vault: AES-256-GCM
-- under TOKEN_ENCRYPTION_KEY, the account id as associated data), and the account a draft
-- belongs to.
CREATE TABLE accounts (
    -- The Instagram professional account's user id, the one the Graph API paths name.
    id                    TEXT PRIMARY KEY,
    -- Without the @; NULL until known (an account brought in from the settings).
    username              TEXT,
    -- Instagram Login (graph.instagram.com, tokens refreshed by the scheduler) or Facebook
    -- Login (graph.facebook.com, Page tokens that do not expire).
    login                 TEXT NOT NULL CHECK (login IN ('instagram', 'facebook')),
    graph_base_url        TEXT NOT NULL,
    -- base64 of nonce || ciphertext || tag; the key that sealed it, by id. NULL once
    -- disconnected: the token is removed.
    token_ciphertext      TEXT,
    token_key_id          TEXT,
    token_expires_at      TEXT,
    -- When the token was obtained or last refreshed.
    token_refreshed_at    TEXT NOT NULL,
    -- SHA-256 of the last token taken from the INSTAGRAM_ACCESS_TOKEN secret: a new secret is
    -- taken once, and a token refreshed since is not overwritten by the old secret.
    imported_token_sha256 TEXT,
    state                 TEXT NOT NULL DEFAULT 'connected'
                          CHECK (state IN ('connected', 'needs_reconnect', 'disconnected')),
    state_reason          TEXT,
    connected_by          TEXT NOT NULL,
    connected_at          TEXT NOT NULL,
    -- The scheduler's refresh of the token, claimed by one run with a lease.
    refresh_claim         TEXT,
    refresh_claimed_until TEXT,
    refresh_error         TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

-- The default account (the one a draft without an account publishes to): the oldest row.
CREATE INDEX accounts_by_created ON accounts (created_at, id);
-- Tokens still sealed by a previous key, re-encrypted a batch per scheduler run.
CREATE INDEX accounts_by_key_id ON accounts (token_key_id);

-- NULL reads as the default account, the oldest row of `accounts` (rows are never deleted:
-- a disconnected account keeps its row, so the default never moves).
ALTER TABLE drafts ADD COLUMN account_id TEXT REFERENCES accounts (id);
-- Drafts that name their account; also what a write to `accounts` checks the foreign key by
-- (without it, every upsert of an account would scan `drafts`). Partial: NULL, the default
-- account, is most drafts, and a full index would make the planner scan it.
CREATE INDEX drafts_by_account ON drafts (account_id) WHERE account_id IS NOT NULL;
