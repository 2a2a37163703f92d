-- Visible drafts per account and status, kept like `draft_counts` (migration 0008) by
-- triggers in the same transaction as the write: the list's counts for a reviewer limited to
-- some accounts, or for `?account=`, read six rows per account instead of counting the
-- account's history. `account_id` is '' for drafts of the default account (NULL in `drafts`).
-- (Each trigger's statements stay on one line: migration files are split at a semicolon
-- that ends a line.)
CREATE TABLE account_draft_counts (
    account_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    count      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, status)
);

INSERT INTO account_draft_counts (account_id, status, count)
SELECT COALESCE(account_id, ''), status, COUNT(*) FROM drafts WHERE caption IS NOT NULL GROUP BY 1, 2;

CREATE TRIGGER account_draft_counts_on_insert AFTER INSERT ON drafts WHEN NEW.caption IS NOT NULL
BEGIN INSERT OR IGNORE INTO account_draft_counts (account_id, status) VALUES (COALESCE(NEW.account_id, ''), NEW.status); UPDATE account_draft_counts SET count = count + 1 WHERE account_id = COALESCE(NEW.account_id, '') AND status = NEW.status; END;

CREATE TRIGGER account_draft_counts_on_delete AFTER DELETE ON drafts WHEN OLD.caption IS NOT NULL
BEGIN UPDATE account_draft_counts SET count = count - 1 WHERE account_id = COALESCE(OLD.account_id, '') AND status = OLD.status; END;

CREATE TRIGGER account_draft_counts_on_update AFTER UPDATE OF status, caption, account_id ON drafts
WHEN OLD.status IS NOT NEW.status OR (OLD.caption IS NULL) IS NOT (NEW.caption IS NULL) OR OLD.account_id IS NOT NEW.account_id
BEGIN UPDATE account_draft_counts SET count = count - 1 WHERE account_id = COALESCE(OLD.account_id, '') AND status = OLD.status AND OLD.caption IS NOT NULL; INSERT OR IGNORE INTO account_draft_counts (account_id, status) SELECT COALESCE(NEW.account_id, ''), NEW.status WHERE NEW.caption IS NOT NULL; UPDATE account_draft_counts SET count = count + 1 WHERE account_id = COALESCE(NEW.account_id, '') AND status = NEW.status AND NEW.caption IS NOT NULL; END;
