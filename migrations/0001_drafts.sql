-- Everything that more than one Worker changes lives here, in D1, because D1 is strongly
-- consistent and supports conditional updates; Workers KV (the draft's editable text) is not.

-- One row per draft. Status changes are conditional updates:
--   UPDATE drafts SET status = :to, version = version + 1 WHERE id = :id AND status = :from
-- so two Workers racing on the same draft cannot both win.
CREATE TABLE drafts (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'approved', 'publishing', 'published', 'failed')),
    version          INTEGER NOT NULL DEFAULT 1,
    language         TEXT NOT NULL,
    provider         TEXT NOT NULL,          -- which caption writer produced the text
    image_status     TEXT NOT NULL DEFAULT 'pending'
                     CHECK (image_status IN ('pending', 'ready', 'failed')),
    image_key        TEXT,                   -- R2 object key once the image is stored
    image_error      TEXT,
    image_prompt     TEXT NOT NULL,          -- what the image consumer draws
    scheduled_at     TEXT,                   -- RFC 3339; NULL publishes on approval
    -- The exact snapshot a person approved; the publisher sends this and nothing else.
    approved_caption  TEXT,
    approved_alt_text TEXT,
    approved_image_key TEXT,
    approved_at      TEXT,
    approved_by      TEXT,
    -- Publishing progress, written the moment each id is known so a retry can reconcile.
    publish_attempts INTEGER NOT NULL DEFAULT 0,
    claim_expires_at TEXT,
    container_id     TEXT,
    media_id         TEXT,
    permalink        TEXT,
    last_error       TEXT,
    reminded_at      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE INDEX drafts_by_status ON drafts (status, scheduled_at);

-- Review comments and decisions, newest last.
CREATE TABLE review_comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id   TEXT NOT NULL REFERENCES drafts (id),
    reviewer   TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('comment', 'edit', 'approve', 'withdraw', 'reapprove', 'regenerate')),
    comment    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE INDEX review_comments_by_draft ON review_comments (draft_id, id);

-- Every publish attempt and each of its steps, successful or not.
CREATE TABLE publish_logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id      TEXT NOT NULL REFERENCES drafts (id),
    attempt       INTEGER NOT NULL,
    step          TEXT NOT NULL,             -- claim, container, status, publish, reconcile, give_up
    outcome       TEXT NOT NULL,             -- ok, retry, failed, skipped
    error_class   TEXT,
    error_code    INTEGER,
    error_subcode INTEGER,
    message       TEXT,
    container_id  TEXT,
    media_id      TEXT,
    created_at    TEXT NOT NULL
);

CREATE INDEX publish_logs_by_draft ON publish_logs (draft_id, id);

-- A retried POST /api/v1/generate with the same Idempotency-Key returns the same draft.
-- The primary key makes the claim atomic: the first insert wins.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,              -- the request it was first used with
    draft_id     TEXT,                       -- NULL while the first request is still running
    created_at   TEXT NOT NULL
);
