-- The failures view's drafts being retried: approved (or being published) drafts whose last
-- attempt failed and that will be tried again, by when the next try is due. A partial index
-- holds only those, so the view reads what it shows, not every approved post. (A draft being
-- published may have no due time: '' sorts it first.)
CREATE INDEX drafts_retrying ON drafts (COALESCE(publish_due_at, ''))
    WHERE status IN ('approved', 'publishing') AND last_error IS NOT NULL;
