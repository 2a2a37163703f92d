-- Words shorter than three characters ("桜", "東京", "ok") through the trigram index: the
-- index's vocabulary, read by a range of terms, gives the trigrams that begin with such a word,
-- and a search for them finds the drafts that have it (platform::store::search). A word at the
-- very end of the indexed text begins no trigram: the text now ends with a space, so it does.
-- (Older rows keep their text as it was indexed until it is next written.)
CREATE VIRTUAL TABLE drafts_search_terms USING fts5vocab(drafts_search, 'row');

DROP TRIGGER drafts_search_on_insert;

CREATE TRIGGER drafts_search_on_insert AFTER INSERT ON drafts WHEN NEW.caption IS NOT NULL
BEGIN INSERT INTO drafts_search (rowid, body) VALUES (NEW.rowid, NEW.caption || ' ' || COALESCE(NEW.hashtags, '') || ' ' || COALESCE(NEW.alt_text, '') || ' ' || COALESCE(CASE WHEN json_valid(NEW.request) THEN json_extract(NEW.request, '$.brief') END, '') || ' '); END;

DROP TRIGGER drafts_search_on_update;

CREATE TRIGGER drafts_search_on_update AFTER UPDATE OF caption, hashtags, alt_text, request ON drafts
BEGIN DELETE FROM drafts_search WHERE rowid = OLD.rowid; INSERT INTO drafts_search (rowid, body) SELECT NEW.rowid, NEW.caption || ' ' || COALESCE(NEW.hashtags, '') || ' ' || COALESCE(NEW.alt_text, '') || ' ' || COALESCE(CASE WHEN json_valid(NEW.request) THEN json_extract(NEW.request, '$.brief') END, '') || ' ' WHERE NEW.caption IS NOT NULL; END;
