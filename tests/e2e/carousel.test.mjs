// Carousels, alt text, collaborators, place, the "AI info" label and the first comment,
// published through the real publish consumer to the Graph API simulator, compared field by
// field with what was approved.
//
// The drafts are made by `Publishing.formatDrafts` (publish-support.mjs): `media_items` and
// `post_options` written to D1 through the harness (the intake's API writes them once it
// exists), then approved through the approve route, which makes the approved copies.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { instagramCaption, message, startPublishing } from "./publish-support.mjs";

let p;
before(async () => {
  p = await startPublishing();
});
after(() => p?.dispose());
beforeEach(() => {
  p.resetSim();
  p.webhook.reset();
});

const OPTIONS = {
  firstComment: "Menu and opening hours in our bio 🍰",
  collaborators: ["maker.one", "maker_two"],
  locationId: "110843418940484",
};

/** The post the simulator holds for `draft`, checked against what was approved. */
function assertPostIsTheDraft(post, draft, { ai }) {
  assert.equal(post.caption, draft.instagramCaption, "the approved caption");
  assert.equal(post.isAiGenerated, ai, "the AI label as approved");
  assert.deepEqual(post.collaborators, draft.options?.collaborators ?? [], "the collaborators as approved");
  assert.equal(post.locationId, draft.options?.locationId ?? null, "the place as approved");
}

/** The draft's comments on Instagram. */
const commentsOn = (mediaId) => p.sim.state.comments(mediaId);

test("a carousel of three is published as one post, in order, each image with its alt text, with collaborators, place, label and one first comment", async () => {
  const [draft] = await p.formatDrafts(1, () => ({
    items: [{ source: "uploaded" }, { source: "imageModel" }, { source: "uploaded", altText: "A latte with a fern drawn in its foam" }],
    options: OPTIONS,
  }));
  const { outcomes } = await p.publish([message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);

  // Meta saw three children, each read ready, then one parent, read and published once.
  assert.deepEqual(p.ops(), [
    "container",
    "container",
    "container",
    "status",
    "status",
    "status",
    "container",
    "status",
    "publish",
    // The permalink is read while the media id is written; the comment follows.
    "permalink",
    "comment",
  ]);
  const children = p.calls("container").slice(0, 3);
  for (const [i, call] of children.entries()) {
    assert.equal(call.body.is_carousel_item, "true");
    assert.equal(call.body.caption, undefined, "a child takes no caption");
    assert.equal(call.body.alt_text, draft.items[i].altText);
  }
  const parent = p.calls("container")[3].body;
  assert.equal(parent.media_type, "CAROUSEL");
  assert.equal(parent.image_url, undefined);

  const posts = p.media();
  assert.equal(posts.length, 1, "one post for the carousel");
  const [post] = posts;
  assert.equal(post.mediaType, "CAROUSEL");
  assertPostIsTheDraft(post, draft, { ai: true });
  assert.deepEqual(
    post.children.map((child) => [child.image.sha256, child.altText]),
    draft.items.map((item) => [item.sha256, item.altText]),
    "each image in order with its own alt text",
  );
  post.children.forEach((child, i) => assert.ok(child.imageUrl.endsWith(`/media/${draft.items[i].key}`), child.imageUrl));
  assert.deepEqual(post.collaborators, OPTIONS.collaborators);
  assert.equal(post.locationId, OPTIONS.locationId);

  const comments = commentsOn(post.id);
  assert.deepEqual(
    comments.map((c) => c.text),
    [OPTIONS.firstComment],
    "one first comment",
  );
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, post.id);
  assert.equal(row.comment_id, comments[0].id);
  assert.equal(row.comment_error, null);
  const view = await p.pipeline.request("GET", `/api/v1/drafts/${draft.id}`);
  assert.deepEqual(view.json.firstComment, { commentId: comments[0].id, error: null });
  assert.deepEqual(JSON.parse(row.child_containers), post.children.map((child) => child.containerId), "the children recorded");
  assert.equal(row.container_id, post.containerId);
  // One post against the quota.
  assert.equal(p.sim.state.quota().usage, p.sim.state.media().length);
});

test("a generated image carries the AI label, an uploaded one does not, and a placeholder image neither", async () => {
  const drafts = await p.formatDrafts(4, (i) => [
    { items: [{ source: "imageModel" }] },
    { items: [{ source: "uploaded" }] },
    // A draft of one generated image, as before items: the image consumer here is the
    // offline placeholder (IMAGE_PROVIDER), which no model drew.
    {},
    { items: [{ source: "uploaded" }], options: { aiLabel: "yes" } },
  ][i]);
  const { outcomes } = await p.publish(drafts.map((d) => message(d.id)));
  assert.deepEqual(outcomes, ["acked", "acked", "acked", "acked"]);
  const posts = p.media();
  assert.equal(posts.length, 4);
  const labelOf = (draft) => {
    const post = posts.find((m) => m.caption === draft.instagramCaption);
    assert.ok(post, `no post for ${draft.id}`);
    assert.equal(post.mediaType, "IMAGE");
    const alt = draft.items[0]?.altText ?? draft.altText;
    assert.equal(post.altText, alt, "the alt text as approved");
    assert.equal(post.image.sha256, draft.items[0]?.sha256 ?? draft.sha256, "the approved image");
    return post.isAiGenerated;
  };
  assert.deepEqual(drafts.map(labelOf), [true, false, false, true]);
  // Only what is set is sent.
  for (const call of p.calls("container")) {
    for (const name of ["collaborators", "location_id"]) assert.equal(call.body[name], undefined, name);
  }
});

test("a lost media_publish answer ends with one post and one first comment", async () => {
  const [draft] = await p.formatDrafts(1, () => ({ items: [{}, {}], options: OPTIONS }));
  p.sim.control.fault({ op: "publish", kind: "lost_answer", match: draft.id });
  const { outcomes } = await p.publish([message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);
  assert.equal(p.calls("publish").length, 1, "media_publish sent once");
  assert.equal(p.calls("publish")[0].outcome, "destroyed", "the answer was lost");
  assert.ok(p.ops().includes("media"), "the post was looked up among the recent media");
  const posts = p.media();
  assert.equal(posts.length, 1);
  assert.equal(commentsOn(posts[0].id).length, 1);
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, posts[0].id);
  assert.equal(row.comment_id, commentsOn(posts[0].id)[0].id);
  // Delivered again: nothing more.
  await p.publish([message(draft.id)]);
  assert.equal(p.media().length, 1);
  assert.equal(commentsOn(posts[0].id).length, 1);
});

test("a lost comment answer is looked up, not sent again: one post, one comment", async () => {
  const [draft] = await p.formatDrafts(1, () => ({ items: [{}, {}, {}], options: OPTIONS }));
  p.sim.control.fault({ op: "comment", kind: "lost_answer", match: draft.id });
  const { outcomes } = await p.publish([message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);
  assert.equal(p.calls("comment").length, 1, "the comment was sent once");
  assert.equal(p.calls("comment")[0].outcome, "destroyed", "its answer was lost");
  assert.equal(p.calls("comments").length, 1, "the post's comments were read");
  const [post] = p.media();
  const comments = commentsOn(post.id);
  assert.equal(comments.length, 1);
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.comment_id, comments[0].id);
  assert.equal(row.comment_sends, 1);
  await p.publish([message(draft.id)]);
  assert.equal(commentsOn(post.id).length, 1, "a redelivery posts nothing");
});

test("a refused first comment never fails the live post: published, the comment's failure on the draft, alerted once", async () => {
  const [draft] = await p.formatDrafts(1, () => ({ items: [{}, {}], options: OPTIONS }));
  p.sim.control.fault({ op: "comment", code: 10, message: "(#10) Application does not have permission for this action", match: draft.id });
  const { outcomes } = await p.publish([message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);
  const [post] = p.media();
  assert.equal(commentsOn(post.id).length, 0);
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, post.id);
  assert.equal(row.comment_id, null);
  assert.match(row.comment_error, /refused the first comment.*#10/);
  // The draft says so.
  const view = await p.pipeline.request("GET", `/api/v1/drafts/${draft.id}`);
  assert.equal(view.status, 200, view.text);
  assert.deepEqual(view.json.firstComment, { commentId: null, error: row.comment_error });
  assert.equal(view.json.status, "published");
  const alerts = p.webhook.calls().filter((call) => call.json?.text?.includes(draft.id));
  assert.equal(alerts.length, 1, "alerted once");
  assert.match(alerts[0].json.text, /without its first comment/);
  await p.publish([message(draft.id)]);
  assert.equal(p.webhook.calls().filter((call) => call.json?.text?.includes(draft.id)).length, 1, "still once");
  assert.equal(p.calls("comment").length, 1, "not sent again");
});

test("the published caption is the approved text's, hashtags included", async () => {
  const [draft] = await p.formatDrafts(1, () => ({ caption: "Three cups, one morning", hashtags: ["coffee"], items: [{}, {}] }));
  await p.publish([message(draft.id)]);
  assert.equal(p.media()[0].caption, instagramCaption("Three cups, one morning", ["coffee"]));
  assert.equal(p.media()[0].children.length, 2);
});
