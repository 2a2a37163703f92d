-- The scheduler's own state (publish-consumer's Cron Trigger, every minute): one row per
-- periodic task that must not run twice at once, or more often than its interval: the
-- reminder digest, the daily token check, and the orphan-image sweep, which also keeps here
-- where it resumes in the bucket. A run takes a task with one conditional write (`claim`,
-- with a lease so that a run that died frees it), and on success records `done_at`.
CREATE TABLE scheduler_tasks (
    task          TEXT PRIMARY KEY,
    claim         TEXT,                      -- the run holding the task
    claimed_until TEXT,                      -- when that claim lapses
    done_at       TEXT,                      -- when the task last completed
    cursor        TEXT                       -- where a paged task resumes (an R2 list cursor)
);
