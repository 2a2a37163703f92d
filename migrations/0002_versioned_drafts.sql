-- One authoritative, versioned draft in D1.
--
-- The editable text moves from Workers KV into the draft's row, beside its status, image and
-- approval, under one `revision` that counts every change a reviewer can see (text, image,
-- status). A change is applied with
--   UPDATE drafts SET ... , revision = revision + 1
--   WHERE id = :id AND status = :status AND image_status = :image AND revision = :revision
-- so of two racing writers exactly one wins, and an approval names the revision it saw.
-- KV keeps a read copy of the draft document, written after D1 and carrying the revision.
--
-- SQLite cannot change a CHECK constraint in place, so `drafts` is rebuilt. `review_comments`
-- and `publish_logs` reference it and are rebuilt around it; nothing wrote to them before this
-- migration (approval and publishing did not exist), so they are empty.
--
-- Rows written before this migration have their text only in KV (`caption` is NULL here);
-- the scheduler's housekeeping copies it in (see ARCHITECTURE.md, "Housekeeping").

DROP TABLE review_comments;
DROP TABLE publish_logs;

CREATE TABLE drafts_v2 (
    id                 TEXT PRIMARY KEY,
    status             TEXT NOT NULL DEFAULT 'draft'
                       CHECK (status IN ('draft', 'approved', 'publishing', 'published', 'failed', 'discarded')),
    -- Bumped by every change a reviewer can see; an edit or an approval names the one it saw.
    revision           INTEGER NOT NULL DEFAULT 1,
    language           TEXT NOT NULL,
    provider           TEXT NOT NULL,          -- which caption writer produced the text
    -- The current text. NULL while generate is still writing it: such a draft is invisible.
    caption            TEXT,
    hashtags           TEXT,                   -- JSON array of tags without '#'
    alt_text           TEXT,
    -- The text as the writer wrote it, kept to show what a person changed.
    generated_caption  TEXT,
    generated_hashtags TEXT,
    generated_alt_text TEXT,
    request            TEXT,                   -- the validated generate request (JSON)
    writer             TEXT,                   -- {provider, model, offline} (JSON)
    image_status       TEXT NOT NULL DEFAULT 'pending'
                       CHECK (image_status IN ('pending', 'generating', 'ready', 'failed')),
    image_key          TEXT,                   -- R2 object key once the image is stored
    image_error        TEXT,
    image_prompt       TEXT NOT NULL,          -- what the image consumer draws
    image_claim        TEXT,                   -- while 'generating': the job that holds it
    image_lease_expires_at TEXT,               -- while 'generating': when the claim lapses
    -- When the image was last asked for (generate's insert, a person, the scheduler again) and
    -- how often in this series: the scheduler asks again for one stuck `pending`, then gives up.
    image_requested_at TEXT,
    image_requests     INTEGER NOT NULL DEFAULT 1,
    scheduled_at       TEXT,                   -- RFC 3339 UTC; NULL publishes on approval
    -- The exact snapshot a person approved; the publisher sends this and nothing else.
    approved_revision  INTEGER,
    approved_caption   TEXT,
    approved_hashtags  TEXT,
    approved_alt_text  TEXT,
    approved_image_key TEXT,
    approved_at        TEXT,
    approved_by        TEXT,
    -- Publishing progress, written the moment each id is known so a retry can reconcile.
    publish_attempts   INTEGER NOT NULL DEFAULT 0,
    publish_claim      TEXT,                   -- while 'publishing': the consumer that holds it
    claim_expires_at   TEXT,                   -- while 'publishing': when the claim lapses
    -- When the publish message now in flight for this draft is due; NULL while none is (a
    -- scheduled post not yet due, a held one). The scheduler queues an approved draft once:
    -- its write is conditional on the value it read, and it queues again one whose message is
    -- long overdue (lost).
    publish_due_at     TEXT,
    -- Why the scheduler holds a due post back (the publishing quota), and when it expects to
    -- queue it (NULL: unknown). Cleared when it is queued.
    publish_hold       TEXT,
    publish_hold_until TEXT,
    container_id       TEXT,
    media_id           TEXT,
    permalink          TEXT,
    last_error         TEXT,
    reminded_at        TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

INSERT INTO drafts_v2 (id, status, revision, language, provider, image_status, image_key,
                       image_error, image_prompt, scheduled_at, approved_caption,
                       approved_alt_text, approved_image_key, approved_at, approved_by,
                       publish_attempts, claim_expires_at, container_id, media_id, permalink,
                       last_error, reminded_at, created_at, updated_at)
SELECT id, status, version, language, provider, image_status, image_key,
       image_error, image_prompt, scheduled_at, approved_caption,
       approved_alt_text, approved_image_key, approved_at, approved_by,
       publish_attempts, claim_expires_at, container_id, media_id, permalink,
       last_error, reminded_at, created_at, updated_at
FROM drafts;

DROP TABLE drafts;
ALTER TABLE drafts_v2 RENAME TO drafts;

CREATE INDEX drafts_by_status ON drafts (status, scheduled_at);
CREATE INDEX drafts_by_status_due ON drafts (status, publish_due_at);
-- Pages of drafts, newest first: (created_at, rowid), rowid being in every index.
CREATE INDEX drafts_by_created ON drafts (created_at);
CREATE INDEX drafts_by_status_created ON drafts (status, created_at);

-- Review comments and decisions, newest last.
CREATE TABLE review_comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id   TEXT NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,               -- the draft's revision the decision was about
    reviewer   TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('comment', 'edit', 'approve', 'withdraw', 'reapprove', 'regenerate', 'discard', 'reschedule')),
    comment    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE INDEX review_comments_by_draft ON review_comments (draft_id, id);

-- Every publish attempt and each of its steps, successful or not. Never a token.
CREATE TABLE publish_logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    draft_id      TEXT NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    step          TEXT NOT NULL,             -- claim, container, status, publish, permalink, reconcile, give_up
    outcome       TEXT NOT NULL,             -- ok, retry, failed, skipped
    error_class   TEXT,
    error_code    INTEGER,
    error_subcode INTEGER,
    message       TEXT,
    container_id  TEXT,
    media_id      TEXT,
    duration_ms   INTEGER,
    created_at    TEXT NOT NULL
);

CREATE INDEX publish_logs_by_draft ON publish_logs (draft_id, id);

-- Idempotency keys of POST /api/v1/generate, with a lease: a request that dies after its
-- claim (a client that disconnects, a crash) blocks its key only until the lease lapses,
-- then a retry takes it over. Only the claim's owner finishes or releases it.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    key              TEXT PRIMARY KEY,
    fingerprint      TEXT NOT NULL,          -- the request body as sent, canonical JSON
    state            TEXT NOT NULL CHECK (state IN ('running', 'done')),
    owner            TEXT NOT NULL,          -- random per claim
    lease_expires_at TEXT NOT NULL,          -- while running: when a retry may take over
    draft_id         TEXT,                   -- set when done
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL           -- purged after this
);

CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- Queue messages no consumer could understand, and failures the failed queue itself could
-- not record on their draft: the operator's last resort, never deleted automatically.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL UNIQUE,        -- the queue's message id; one record per message
    queue       TEXT NOT NULL,
    body        TEXT NOT NULL,               -- the raw body as received
    reason      TEXT NOT NULL,
    deliveries  INTEGER NOT NULL DEFAULT 1,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
