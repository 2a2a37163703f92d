-- Failed and retried publish attempts per UTC quarter hour and error class, and the time
-- spent publishing per UTC day, kept rather than counted (flat cost): the failures view (which
-- adds quarters up into the viewer's days, every zone's offset being whole quarter hours) and
-- the charts read a row per quarter (or day) and class that had failures, and a row a day, instead of
-- the window's publish log. An attempt counts once per class, at its first failed step, as a
-- count over the log would; the check reads only the draft's own log rows
-- (publish_logs_by_draft). Kept by triggers in the same statement as the log's insert. (A
-- trigger's statements stay on one line: migration files are split at a semicolon that ends
-- a line.)
CREATE TABLE failures_by_quarter (
    quarter     TEXT NOT NULL, -- the quarter hour's start, YYYY-MM-DDTHH:MM:00Z
    error_class TEXT NOT NULL, -- 'unknown' when the step recorded none
    attempts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (quarter, error_class)
);

-- The same attempts per UTC day, for the charts' totals by class over a window of days.
CREATE TABLE failures_by_day (
    day         TEXT NOT NULL, -- YYYY-MM-DD, UTC
    error_class TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, error_class)
);

CREATE TRIGGER failures_by_quarter_on_insert AFTER INSERT ON publish_logs
WHEN NEW.outcome IN ('failed', 'retry') AND NOT EXISTS (SELECT 1 FROM publish_logs p WHERE p.draft_id = NEW.draft_id AND p.id != NEW.id AND p.attempt = NEW.attempt AND p.outcome IN ('failed', 'retry') AND COALESCE(p.error_class, 'unknown') = COALESCE(NEW.error_class, 'unknown'))
BEGIN INSERT OR IGNORE INTO failures_by_quarter (quarter, error_class) VALUES (substr(NEW.created_at, 1, 14) || printf('%02d', CAST(substr(NEW.created_at, 15, 2) AS INTEGER) / 15 * 15) || ':00Z', COALESCE(NEW.error_class, 'unknown')); UPDATE failures_by_quarter SET attempts = attempts + 1 WHERE quarter = substr(NEW.created_at, 1, 14) || printf('%02d', CAST(substr(NEW.created_at, 15, 2) AS INTEGER) / 15 * 15) || ':00Z' AND error_class = COALESCE(NEW.error_class, 'unknown'); INSERT OR IGNORE INTO failures_by_day (day, error_class) VALUES (substr(NEW.created_at, 1, 10), COALESCE(NEW.error_class, 'unknown')); UPDATE failures_by_day SET attempts = attempts + 1 WHERE day = substr(NEW.created_at, 1, 10) AND error_class = COALESCE(NEW.error_class, 'unknown'); END;

-- The history before this migration, once.
INSERT INTO failures_by_quarter (quarter, error_class, attempts)
SELECT substr(at, 1, 14) || printf('%02d', CAST(substr(at, 15, 2) AS INTEGER) / 15 * 15) || ':00Z', class, COUNT(*)
FROM (SELECT MIN(created_at) AS at, COALESCE(error_class, 'unknown') AS class
      FROM publish_logs WHERE outcome IN ('failed', 'retry') GROUP BY draft_id, attempt, class)
GROUP BY 1, 2;

INSERT INTO failures_by_day (day, error_class, attempts)
SELECT substr(quarter, 1, 10), error_class, SUM(attempts) FROM failures_by_quarter GROUP BY 1, 2;

-- The charts' time spent publishing per UTC day (when Analytics Engine's SQL API is not used):
-- the summed step durations and the attempts they belong to, kept the same way.
CREATE TABLE publish_time_by_day (
    day      TEXT PRIMARY KEY, -- YYYY-MM-DD, UTC
    total_ms INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER publish_time_by_day_on_insert AFTER INSERT ON publish_logs WHEN NEW.duration_ms IS NOT NULL
BEGIN INSERT OR IGNORE INTO publish_time_by_day (day) VALUES (substr(NEW.created_at, 1, 10)); UPDATE publish_time_by_day SET total_ms = total_ms + NEW.duration_ms, attempts = attempts + NOT EXISTS (SELECT 1 FROM publish_logs p WHERE p.draft_id = NEW.draft_id AND p.id != NEW.id AND p.attempt = NEW.attempt AND p.duration_ms IS NOT NULL AND substr(p.created_at, 1, 10) = substr(NEW.created_at, 1, 10)) WHERE day = substr(NEW.created_at, 1, 10); END;

INSERT INTO publish_time_by_day (day, total_ms, attempts)
SELECT substr(created_at, 1, 10), SUM(duration_ms), COUNT(DISTINCT draft_id || ':' || attempt)
FROM publish_logs WHERE duration_ms IS NOT NULL GROUP BY 1;
