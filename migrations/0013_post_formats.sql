-- A post beyond one generated image (domain::post_format): its images in order, as JSON of
-- `MediaItems` (NULL: the one image is the generated `image_key`, as before), and what
-- Instagram takes with it (first comment, collaborators, place, AI label) as JSON of
-- `PostOptions` (NULL: none). Both are part of what a person sees and approves: an edit
-- raises the revision, an approval copies them to the `approved_` columns, which are all
-- the publisher sends.
ALTER TABLE drafts ADD COLUMN media_items TEXT;
ALTER TABLE drafts ADD COLUMN approved_media_items TEXT;
ALTER TABLE drafts ADD COLUMN post_options TEXT;
ALTER TABLE drafts ADD COLUMN approved_post_options TEXT;
