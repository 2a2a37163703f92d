-- Operator alerts, one row per kind of trouble, so that a cause shared by many drafts (an
-- expired Instagram token) alerts the operator once rather than once per draft.
--
-- `kind` names the trouble: `token_invalid` for the account's token, `publish_failed:<draft
-- id>:<failed at>` for one draft's failure. An alert goes out when its row is claimed: the
-- claim sets `claim` and `sent_at` in one conditional write, so of two consumers racing
-- only one sends. A send that fails clears them again, so the next occurrence retries it.
-- A kind alerts again once `sent_at` is a day old, or after its row was deleted (cleared:
-- a successful publish clears `token_invalid`).
CREATE TABLE operator_alerts (
    kind       TEXT PRIMARY KEY,
    first_at   TEXT NOT NULL,                -- first occurrence since the row was made
    last_at    TEXT NOT NULL,                -- latest occurrence
    count      INTEGER NOT NULL DEFAULT 1,   -- occurrences since the row was made
    claim      TEXT,                         -- the sender holding the latest alert
    sent_at    TEXT                          -- when the alert last went out (or is going)
);
