-- Each account's voice (domain::voice): its default language, tone, hashtags always and never
-- used, words to avoid and sample captions, as the JSON of `RawVoice`, checked by the api
-- before it is written. A table of its own rather than columns of `accounts`: the voice is
-- written by reviewers through the api, the account's token and state by the consumers, and
-- neither write touches the other's row. No row: the empty voice.
CREATE TABLE account_voices (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    voice      TEXT NOT NULL,
    -- Raised by every write; a write names the revision it was made on (0: none yet), as a
    -- draft's edit does, so two reviewers never overwrite each other unseen.
    revision   INTEGER NOT NULL CHECK (revision >= 1),
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
