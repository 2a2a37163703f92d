-- Search, the calendar and "up next", each read by an index however long the history.

-- Full-text search over a draft's caption, hashtags, alt text and brief: one row per visible
-- draft (with text), its rowid the draft's rowid. The trigram tokenizer finds any run of
-- three or more characters, so Japanese and other languages written without spaces are
-- found by their words; a query shorter than three characters cannot use it and is read
-- from a bounded window of the newest rows instead (platform::store::search).
-- Kept in step by the triggers below, inside the same statement as the write that changes
-- the text (a trigger's inner statements end mid-line: migration files are split into
-- statements at a semicolon that ends a line).
CREATE VIRTUAL TABLE drafts_search USING fts5(body, tokenize = 'trigram');

CREATE TRIGGER drafts_search_on_insert AFTER INSERT ON drafts WHEN NEW.caption IS NOT NULL
BEGIN INSERT INTO drafts_search (rowid, body) VALUES (NEW.rowid, NEW.caption || ' ' || COALESCE(NEW.hashtags, '') || ' ' || COALESCE(NEW.alt_text, '') || ' ' || COALESCE(CASE WHEN json_valid(NEW.request) THEN json_extract(NEW.request, '$.brief') END, '')); END;

CREATE TRIGGER drafts_search_on_update AFTER UPDATE OF caption, hashtags, alt_text, request ON drafts
BEGIN DELETE FROM drafts_search WHERE rowid = OLD.rowid; INSERT INTO drafts_search (rowid, body) SELECT NEW.rowid, NEW.caption || ' ' || COALESCE(NEW.hashtags, '') || ' ' || COALESCE(NEW.alt_text, '') || ' ' || COALESCE(CASE WHEN json_valid(NEW.request) THEN json_extract(NEW.request, '$.brief') END, '') WHERE NEW.caption IS NOT NULL; END;

CREATE TRIGGER drafts_search_on_delete AFTER DELETE ON drafts
BEGIN DELETE FROM drafts_search WHERE rowid = OLD.rowid; END;

INSERT INTO drafts_search (rowid, body)
SELECT rowid, caption || ' ' || COALESCE(hashtags, '') || ' ' || COALESCE(alt_text, '') || ' ' || COALESCE(CASE WHEN json_valid(request) THEN json_extract(request, '$.brief') END, '')
FROM drafts WHERE caption IS NOT NULL;

-- Up next: approved posts in the order they go out, by their time, or for "as soon as
-- possible" the time they were approved.
CREATE INDEX drafts_up_next ON drafts (COALESCE(scheduled_at, approved_at)) WHERE status = 'approved';

-- The calendar: published posts by the time they were sent (scheduled ones are read by
-- drafts_by_status, on (status, scheduled_at)).
CREATE INDEX drafts_published_by_time ON drafts (status, publish_sent_at) WHERE publish_sent_at IS NOT NULL;

-- The list's filters by language and by approver, each a range of created_at.
CREATE INDEX drafts_by_language_created ON drafts (language, created_at);
CREATE INDEX drafts_by_approver_created ON drafts (approved_by, created_at) WHERE approved_by IS NOT NULL;
