-- A scheduler run reads rows in proportion to what is due, not to the drafts waiting or
-- scheduled ahead: each of its selections of drafts is a range of a partial index that holds
-- only the drafts that task may ever pick, by the time that makes them due.

-- Timed posts: approved drafts with no publish message queued, by their time (NULL first:
-- untimed ones). The range whose time has come skips the posts scheduled ahead and the ones
-- already queued.
CREATE INDEX drafts_waiting_by_schedule ON drafts (scheduled_at)
WHERE status = 'approved' AND publish_due_at IS NULL;

-- Reminders: drafts under review, by when they were last reminded (NULL: never) and their
-- age. Never reminded and old enough is one range; reminded long enough ago is another.
CREATE INDEX drafts_for_review_by_reminder ON drafts (reminded_at, created_at)
WHERE status = 'draft' AND caption IS NOT NULL;

-- Stuck images: drafts under review whose image is unfinished, by when it was last asked for.
CREATE INDEX drafts_unfinished_images ON drafts (COALESCE(image_requested_at, created_at))
WHERE status = 'draft' AND image_status IN ('pending', 'generating');
