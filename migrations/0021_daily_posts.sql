-- What the charts page shows, kept rather than counted (flat cost): per UTC day and account,
-- the posts published and approved, with the summed seconds from a draft's creation to its
-- approval and from approval to live, so averages are two numbers. Kept in step by triggers
-- on `drafts`, in the same transaction as the status change. (Each trigger's statements stay
-- on one line: migration files are split at a semicolon that ends a line.)
CREATE TABLE daily_posts (
    day            TEXT NOT NULL,              -- YYYY-MM-DD, UTC
    account_id     TEXT NOT NULL,              -- '' for the default account
    published      INTEGER NOT NULL DEFAULT 0,
    live_seconds   INTEGER NOT NULL DEFAULT 0, -- approval to live, summed over `published`
    approved       INTEGER NOT NULL DEFAULT 0,
    review_seconds INTEGER NOT NULL DEFAULT 0, -- creation to approval, summed over `approved`
    PRIMARY KEY (day, account_id)
);

CREATE TRIGGER daily_posts_on_published AFTER UPDATE OF status ON drafts
WHEN NEW.status = 'published' AND OLD.status IS NOT 'published'
BEGIN INSERT OR IGNORE INTO daily_posts (day, account_id) VALUES (substr(NEW.updated_at, 1, 10), COALESCE(NEW.account_id, '')); UPDATE daily_posts SET published = published + 1, live_seconds = live_seconds + MAX(0, COALESCE(CAST(strftime('%s', NEW.updated_at) AS INTEGER) - CAST(strftime('%s', NEW.approved_at) AS INTEGER), 0)) WHERE day = substr(NEW.updated_at, 1, 10) AND account_id = COALESCE(NEW.account_id, ''); END;

CREATE TRIGGER daily_posts_on_approved AFTER UPDATE OF status ON drafts
WHEN NEW.status = 'approved' AND OLD.status = 'draft' AND NEW.approved_at IS NOT NULL
BEGIN INSERT OR IGNORE INTO daily_posts (day, account_id) VALUES (substr(NEW.approved_at, 1, 10), COALESCE(NEW.account_id, '')); UPDATE daily_posts SET approved = approved + 1, review_seconds = review_seconds + MAX(0, COALESCE(CAST(strftime('%s', NEW.approved_at) AS INTEGER) - CAST(strftime('%s', NEW.created_at) AS INTEGER), 0)) WHERE day = substr(NEW.approved_at, 1, 10) AND account_id = COALESCE(NEW.account_id, ''); END;

-- The history before this migration, once.
INSERT INTO daily_posts (day, account_id, published, live_seconds)
SELECT substr(updated_at, 1, 10), COALESCE(account_id, ''), COUNT(*),
       SUM(MAX(0, COALESCE(CAST(strftime('%s', updated_at) AS INTEGER) - CAST(strftime('%s', approved_at) AS INTEGER), 0)))
FROM drafts WHERE status = 'published' GROUP BY 1, 2;
