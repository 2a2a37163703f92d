-- A carousel and a first comment, published exactly once (domain::publish, carousel.rs and
-- comment.rs):
-- `child_containers`: a carousel's child containers made for this approval, a JSON list of
-- ids in the items' order, reused by the next run until the parent is made from them.
-- `comment_sends` / `comment_sent_at`: the first comment's sends, each recorded before it
-- went out; a send that may have gone out is looked for among the post's comments before
-- another. `comment_id`: the posted comment; `comment_error`: why it was not posted (the
-- post is published all the same).
ALTER TABLE drafts ADD COLUMN child_containers TEXT;
ALTER TABLE drafts ADD COLUMN comment_sends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE drafts ADD COLUMN comment_sent_at TEXT;
ALTER TABLE drafts ADD COLUMN comment_id TEXT;
ALTER TABLE drafts ADD COLUMN comment_error TEXT;
