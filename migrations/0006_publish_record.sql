-- The publish record that makes "never twice" provable (domain::publish):
-- `publish_sent_container` / `publish_sent_at`: the container a `media_publish` may have been
-- sent for, written before the call. Until a status read says that container is not live,
-- nothing fails the draft, and no approval, re-approval or regeneration forgets it.
-- `container_polls`: IN_PROGRESS reads of the current container. `throttled_since`: when
-- Meta started throttling this draft's publishing (bounded by the consumer's limit).
-- `unresolved_since`: since when the sent container's status cannot be read.
ALTER TABLE drafts ADD COLUMN publish_sent_container TEXT;
ALTER TABLE drafts ADD COLUMN publish_sent_at TEXT;
ALTER TABLE drafts ADD COLUMN container_polls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE drafts ADD COLUMN throttled_since TEXT;
ALTER TABLE drafts ADD COLUMN unresolved_since TEXT;

-- Drafts not published yet whose container a `media_publish` was already tried for (the logs
-- said so before this column existed) keep that fact.
UPDATE drafts
SET publish_sent_container = container_id,
    publish_sent_at = (SELECT MIN(created_at) FROM publish_logs
                       WHERE publish_logs.draft_id = drafts.id AND step = 'publish'
                         AND publish_logs.container_id = drafts.container_id)
WHERE status IN ('approved', 'publishing', 'failed', 'draft')
  AND container_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM publish_logs
              WHERE publish_logs.draft_id = drafts.id AND step = 'publish'
                AND publish_logs.container_id = drafts.container_id);

-- A post found by a lookup is taken only if no other draft recorded it: that check, and the
-- lookup of a lost answer, read drafts by media id.
CREATE INDEX drafts_by_media_id ON drafts (media_id) WHERE media_id IS NOT NULL;

-- Of drafts with the same text whose answers were lost, the first sent takes the first post:
-- the lookup counts the same-text drafts sent just before it.
CREATE INDEX drafts_by_publish_sent_at ON drafts (publish_sent_at) WHERE publish_sent_at IS NOT NULL;
