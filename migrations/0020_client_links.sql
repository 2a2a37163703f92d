-- Clients' approval links (domain::client_link): a reviewer names a person outside the team
-- and the drafts they may see. The link's secret is only in the link; this table keeps its
-- SHA-256 (hex), looked up by it. Decisions made through a link are review comments and
-- draft changes like any other, under "<name> (via link)".
CREATE TABLE client_links (
    id          TEXT PRIMARY KEY,             -- what reviewers see and revoke by
    token_hash  TEXT NOT NULL UNIQUE,
    client_name TEXT NOT NULL,
    draft_ids   TEXT NOT NULL,                -- JSON array of the drafts it shows (1..20)
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    revoked_by  TEXT
);
-- The links page lists the newest first, a bounded page.
CREATE INDEX client_links_by_created_at ON client_links (created_at);
