-- The scheduler's due posts: approved drafts with no publish message queued, by their time.
-- A run reads the range whose time has come (and the untimed ones, NULL first), not the
-- posts scheduled ahead nor those already queued.
CREATE INDEX drafts_waiting_by_schedule ON drafts (scheduled_at)
WHERE status = 'approved' AND publish_due_at IS NULL;
