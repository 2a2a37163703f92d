-- Reads that stay flat as history grows: every statement the Workers run finds its rows by an
-- index, and the counts a page shows are kept, not counted.

-- Visible drafts (those with text) in each status, kept in step with `drafts` by the
-- triggers below: every write that inserts, deletes, or changes a draft's status or text
-- moves its count in the same transaction. A list page reads these six rows instead of
-- counting the table. (A trigger's inner statements end mid-line: migration files are split
-- into statements at a semicolon that ends a line.)
CREATE TABLE draft_counts (
    status TEXT PRIMARY KEY,
    count  INTEGER NOT NULL DEFAULT 0
);

INSERT INTO draft_counts (status, count)
SELECT s.value, (SELECT COUNT(*) FROM drafts WHERE drafts.status = s.value AND caption IS NOT NULL)
FROM json_each('["draft", "approved", "publishing", "published", "failed", "discarded"]') AS s;

CREATE TRIGGER draft_counts_on_insert AFTER INSERT ON drafts WHEN NEW.caption IS NOT NULL
BEGIN UPDATE draft_counts SET count = count + 1 WHERE status = NEW.status; END;

CREATE TRIGGER draft_counts_on_delete AFTER DELETE ON drafts WHEN OLD.caption IS NOT NULL
BEGIN UPDATE draft_counts SET count = count - 1 WHERE status = OLD.status; END;

CREATE TRIGGER draft_counts_on_update AFTER UPDATE OF status, caption ON drafts
WHEN OLD.status IS NOT NEW.status OR (OLD.caption IS NULL) IS NOT (NEW.caption IS NULL)
BEGIN UPDATE draft_counts SET count = count - 1 WHERE status = OLD.status AND OLD.caption IS NOT NULL; UPDATE draft_counts SET count = count + 1 WHERE status = NEW.status AND NEW.caption IS NOT NULL; END;

-- The quota's window: successful publish steps by time (the first `publish ok` or `reconcile ok` of
-- each media id in the last 24 hours), and whether a media id was published before it.
CREATE INDEX publish_logs_by_step_time ON publish_logs (step, outcome, created_at);
CREATE INDEX publish_logs_by_media_id ON publish_logs (media_id) WHERE media_id IS NOT NULL;
-- Failures of the last days, by day, on the review page.
CREATE INDEX publish_logs_by_time ON publish_logs (created_at);

-- Housekeeping: drafts whose text never came, oldest first, and the images drafts point at.
CREATE INDEX drafts_textless_by_created ON drafts (created_at) WHERE caption IS NULL;
CREATE INDEX drafts_by_image_key ON drafts (image_key) WHERE image_key IS NOT NULL;
CREATE INDEX drafts_by_approved_image_key ON drafts (approved_image_key) WHERE approved_image_key IS NOT NULL;
