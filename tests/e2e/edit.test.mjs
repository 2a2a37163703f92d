// State integrity: the one versioned draft in D1 under concurrent and stale writers.
//
// The image consumer is started idle (`idle`): nothing sent to image-queue is delivered
// unless a test hands it over with `pipeline.deliver`, so every draft's image state and
// revision are known exactly, never subject to the queue's batch timing. Two copies of the
// image consumer let a test deliver one message twice at the same moment. Every D1 statement
// goes through a stand-in that yields to the event loop first and reports it (`d1LatencyMs`,
// `pipeline.statements`): locally D1 answers within one turn of workerd's event loop, so
// without it requests fired together would not interleave between a read and its write. The
// api writes with the offline template writer; the `writer` variant asks a fake OpenAI, which
// tests hold open to keep a generate request running.
//
// A race is fired as a race (Promise.all), and a fault test first proves its fault happened.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { startFakeOpenAI } from "../fakes/openai.mjs";
import { cronWorkerName, startPipeline } from "./harness.mjs";
import { insertStatement, OPENAI_KEY, rfc3339, UUID_V4 } from "./support.mjs";

const IMAGE = "image-consumer";
const COPIES = ["image-consumer-a", "image-consumer-b"];
/** The api's LLM_TIMEOUT_MS: generate's lease, and housekeeping's age for textless drafts, is 2 x this + 30 s. */
const API_TIMEOUT_MS = 10_000;
/** The `writer` variant's LLM_TIMEOUT_MS: long, so a held model call does not time out. */
const WRITER_TIMEOUT_MS = 60_000;
/** The Worker whose Cron Trigger runs housekeeping, and a copy of it with the default grace. */
const CRON = cronWorkerName();
const CRON_WITH_GRACE = CRON === "api" ? "api-grace" : `${CRON}-grace`;
const HOUSEKEEPING = { LLM_TIMEOUT_MS: String(API_TIMEOUT_MS), ORPHAN_IMAGE_GRACE_MINUTES: "0" };

let fake;
let pipeline;
before(async () => {
  fake = await startFakeOpenAI();
  pipeline = await startPipeline(
    { api: { ...HOUSEKEEPING, MAX_HASHTAGS: "5" }, ...(CRON === "api" ? {} : { [CRON]: HOUSEKEEPING }) },
    {
      record: true,
      d1LatencyMs: 2,
      idle: [IMAGE],
      copies: {
        ...Object.fromEntries(COPIES.map((name) => [name, { of: IMAGE }])),
        // Housekeeping with the default grace for orphan images.
        ...(CRON === "api" ? {} : { [CRON_WITH_GRACE]: { of: CRON, vars: { ORPHAN_IMAGE_GRACE_MINUTES: "60" } } }),
      },
      variants: {
        writer: {
          LLM_PROVIDER: "openai",
          OPENAI_BASE_URL: fake.baseUrl,
          OPENAI_API_KEY: OPENAI_KEY,
          LLM_TIMEOUT_MS: String(WRITER_TIMEOUT_MS),
        },
        ...(CRON === "api" ? { grace: { ORPHAN_IMAGE_GRACE_MINUTES: "60" } } : {}),
      },
    },
  );
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
});
beforeEach(() => fake.reset());

const EN = { language: "en" };

/** A new draft, written by the template writer; its image is not made yet. */
async function newDraft(brief = `Autumn menu launch ${randomUUID().slice(0, 8)}`) {
  const created = await pipeline.generate({ brief, ...EN });
  assert.equal(created.status, 201, created.text);
  return created.json;
}

/** The generate_image message the api sent for draft `id`. */
function imageMessage(id) {
  const sent = pipeline.sent.filter((s) => s.queue === "image-queue" && s.body?.id === id);
  assert.equal(sent.length, 1, `image messages for ${id}: ${JSON.stringify(sent)}`);
  return sent[0].body;
}

/** Delivers draft `id`'s image message to the image consumer, which makes and stores the image. */
async function makeImage(id) {
  const { outcomes } = await pipeline.deliver(IMAGE, "image-queue", [imageMessage(id)]);
  assert.deepEqual(outcomes, ["acked"]);
  const row = await pipeline.draftRow(id);
  assert.equal(row.image_status, "ready");
  return row;
}

function edit(id, body, options = {}) {
  return pipeline.request("PATCH", `/api/v1/drafts/${id}`, { body, ...options });
}

function read(id) {
  return pipeline.request("GET", `/api/v1/drafts/${id}`);
}

async function kvCopy(id) {
  return (await pipeline.draftsKv()).get(`draft:${id}`, "json");
}

/** Waits until the KV read copy of `id` is at `revision` (it is written after the answer). */
function copyAt(id, revision) {
  return pipeline.eventually(
    async () => {
      const copy = await kvCopy(id);
      return copy?.revision === revision ? copy : null;
    },
    { timeoutMs: 5000, what: `the KV copy of ${id} at revision ${revision}` },
  );
}

/** Data points written for draft `id`, once there are `count`, and a moment more for a surplus. */
async function pointsFor(id, count) {
  const points = () => pipeline.metrics.filter((point) => point.indexes[0] === id);
  await pipeline.eventually(() => points().length >= count, { timeoutMs: 5000, intervalMs: 20, what: `${count} point(s) for ${id}` });
  await new Promise((resolve) => setTimeout(resolve, 100));
  return points();
}

// ---------------------------------------------------------------------------------------------
// Revisions and the image

test("before any delivery the image is pending at revision 1; storing it is revision 2, which GET shows from D1", async () => {
  const draft = await newDraft();
  const { draftId: id } = draft;
  assert.match(id, UUID_V4);
  assert.equal(draft.revision, 1, "the first revision a person sees is 1");
  assert.deepEqual(draft.image, { status: "pending", url: null, previewUrl: `${pipeline.url}/media/pending.svg`, error: null });
  assert.equal(draft.approval, null);
  assert.equal(draft.lastError, null);
  const row = await pipeline.draftRow(id);
  assert.equal(row.revision, 1);
  assert.equal(row.image_status, "pending");
  assert.equal(row.image_claim, null);
  // The message the consumer will get: exactly the contract's four fields.
  const message = imageMessage(id);
  assert.deepEqual(Object.keys(message).sort(), ["action", "attempt", "id", "requestedAt"]);
  assert.equal(message.action, "generate_image");
  assert.equal(message.attempt, 1);
  const pending = await read(id);
  assert.equal(pending.json.image.status, "pending");
  assert.equal(pending.json.revision, 1);
  await copyAt(id, 1);

  const stored = await makeImage(id);
  assert.equal(stored.revision, 2, "storing the image is a change the reviewer sees");
  assert.equal(stored.caption, row.caption, "the image changed the text");
  const ready = await read(id);
  assert.equal(ready.status, 200);
  assert.equal(ready.json.revision, 2);
  assert.equal(ready.json.image.status, "ready");
  assert.equal(ready.json.image.url, `${pipeline.url}/media/${stored.image_key}`);
  assert.equal(ready.json.image.previewUrl, ready.json.image.url);
  // Only the api writes KV: its copy stays at 1, and the draft view does not read it.
  assert.equal((await kvCopy(id)).revision, 1);
});

test("an edit naming the revision from before the image was stored gets 409 with the current draft, and changes nothing", async () => {
  const { draftId: id, caption } = await newDraft();
  const loaded = await read(id); // the reviewer opens the draft
  assert.equal(loaded.json.revision, 1);
  const stored = await makeImage(id); // meanwhile the image is stored
  const before = await pipeline.draftRow(id);

  const stale = await edit(id, { revision: loaded.json.revision, caption: "Edited on the page opened before the image" });
  assert.equal(stale.status, 409, stale.text);
  assert.equal(stale.json.error.code, "revision_conflict");
  assert.match(stale.json.error.message, /revision 1\b.*revision 2\b/);
  const current = stale.json.error.current;
  assert.equal(current.revision, 2);
  assert.equal(current.caption, caption);
  assert.equal(current.image.status, "ready");
  assert.equal(current.image.url, `${pipeline.url}/media/${stored.image_key}`);
  assert.deepEqual(await pipeline.draftRow(id), before, "a stale edit changed the row");

  // With the revision it was shown, the same edit goes through and keeps the image.
  const fresh = await edit(id, { revision: current.revision, caption: "Edited on the page opened before the image" });
  assert.equal(fresh.status, 200, fresh.text);
  assert.equal(fresh.json.revision, 3);
  assert.equal(fresh.json.image.url, current.image.url);
  const row = await pipeline.draftRow(id);
  assert.equal(row.image_key, stored.image_key);
  assert.equal(row.image_status, "ready");
});

// ---------------------------------------------------------------------------------------------
// Edits

test("concurrent edits of one revision: exactly one wins, the others get 409 with the winner's draft", async () => {
  const { draftId: id, revision } = await newDraft();
  const captions = Array.from({ length: 5 }, (_, i) => `Caption written in tab ${i + 1} at the same moment`);
  const from = pipeline.statements.length;
  // Fired together, so their reads of revision 1 overlap with the winner's write.
  const answers = await Promise.all(captions.map((caption) => edit(id, { revision, caption })));
  // It was a race at the write: more than one request read revision 1 and tried the
  // conditional UPDATE; the store's revision condition, not the handler's check, decided.
  const writes = pipeline.statements.slice(from).filter(({ worker, sql }) => worker === "api" && /^\s*UPDATE drafts SET/.test(sql));
  assert.ok(writes.length >= 2, `only ${writes.length} request(s) reached the write`);
  assert.ok(writes.every(({ sql }) => /\brevision = \?\d+/.test(sql)), "an edit's write is not conditional on the revision");

  const won = answers.filter((answer) => answer.status === 200);
  const lost = answers.filter((answer) => answer.status !== 200);
  assert.equal(won.length, 1, answers.map((answer) => `${answer.status} ${answer.text.slice(0, 120)}`).join("\n"));
  const [winner] = won;
  assert.ok(captions.includes(winner.json.caption));
  assert.equal(winner.json.revision, revision + 1);
  for (const loser of lost) {
    assert.equal(loser.status, 409, loser.text);
    assert.equal(loser.json.error.code, "revision_conflict");
    assert.equal(loser.json.error.current.caption, winner.json.caption);
    assert.equal(loser.json.error.current.revision, winner.json.revision);
  }
  const row = await pipeline.draftRow(id);
  assert.equal(row.caption, winner.json.caption);
  assert.equal(row.revision, revision + 1, "more than one edit was written");
  // The generated text is kept beside the edit, to show what the person changed.
  assert.notEqual(row.generated_caption, row.caption);
});

test("an edit naming an old revision gets 409 with the current draft and changes nothing", async () => {
  const { draftId: id } = await newDraft();
  const first = await edit(id, { revision: 1, caption: "The first edit" });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.revision, 2);
  const before = await pipeline.draftRow(id);

  for (const revision of [1, 7]) {
    const stale = await edit(id, { revision, caption: "An edit of another revision", altText: "Changed alt text" });
    assert.equal(stale.status, 409, `revision ${revision}: ${stale.text}`);
    assert.equal(stale.json.error.code, "revision_conflict");
    assert.equal(stale.json.error.current.revision, 2);
    assert.equal(stale.json.error.current.caption, "The first edit");
    assert.equal(stale.json.error.current.draftId, id);
    assert.deepEqual(await pipeline.draftRow(id), before, `revision ${revision}: the row changed`);
  }
});

test("an edit of a draft that is no longer under review is a 409 conflict, and changes nothing", async () => {
  const { draftId: id } = await newDraft();
  await pipeline.db.prepare("UPDATE drafts SET status = 'published' WHERE id = ?1").bind(id).run();
  const before = await pipeline.draftRow(id);
  const answer = await edit(id, { revision: before.revision, caption: "Too late" });
  assert.equal(answer.status, 409, answer.text);
  assert.equal(answer.json.error.code, "conflict");
  assert.deepEqual(await pipeline.draftRow(id), before);
});

test("edits of unknown or malformed draft ids: 404 and 400", async () => {
  const unknown = await edit(randomUUID(), { revision: 1, caption: "Nobody's" });
  assert.equal(unknown.status, 404, unknown.text);
  assert.equal(unknown.json.error.code, "not_found");
  const malformed = await edit("not-a-uuid", { revision: 1, caption: "Nobody's" });
  assert.equal(malformed.status, 400, malformed.text);
});

/** Each invalid edit, and the paths of its problems in the order they are reported. */
const BAD_EDITS = [
  { name: "caption too long (2,201 characters)", body: { caption: "a".repeat(2201) }, paths: ["caption"] },
  {
    name: "caption and hashtags together too long",
    body: { caption: "a".repeat(2190), hashtags: ["autumn", "cafe"] },
    paths: ["caption"],
  },
  { name: "six hashtags with a cap of 5", body: { hashtags: ["one", "two", "three", "four", "five", "six"] }, paths: ["hashtags"] },
  { name: "a hashtag with a space", body: { hashtags: ["autumn", "chestnut cake"] }, paths: ["hashtags[1]"] },
  {
    name: "hashtags in the caption push the post over the cap",
    body: { caption: "New this week: #SquashSoup and #ChestnutCake", hashtags: ["autumn", "cafe", "tokyo", "latte"] },
    paths: ["caption"],
  },
  {
    name: "21 @mentions",
    body: { caption: `Thanks to ${Array.from({ length: 21 }, (_, i) => `@friend${i + 1}`).join(" ")}` },
    paths: ["caption"],
  },
  { name: "a NUL in the alt text", body: { altText: "A bowl of soup\u0000 on a table" }, paths: ["altText"] },
  { name: "an unknown field", body: { caption: "Fine", colour: "red" }, paths: ["colour"] },
  { name: "a hashtag that is not a string", body: { hashtags: ["autumn", 7] }, paths: ["hashtags[1]"] },
  { name: "an empty caption, an empty tag and a control character", body: { caption: "  ", hashtags: ["#"], altText: "x\u0007" }, paths: ["caption", "hashtags[0]", "altText"] },
];

test("invalid edits are refused with 400 by field path, and the row is unchanged", async () => {
  const { draftId: id, revision } = await newDraft();
  const before = await pipeline.draftRow(id);
  const cases = [
    ...BAD_EDITS.map(({ name, body, paths }) => ({ name, body: { revision, ...body }, paths })),
    { name: "missing revision", body: { caption: "Fine" }, paths: ["revision"] },
    { name: "revision 0", body: { revision: 0, caption: "Fine" }, paths: ["revision"] },
    { name: "nothing to change", body: { revision }, paths: [""] },
  ];
  for (const { name, body, paths } of cases) {
    const answer = await edit(id, body);
    assert.equal(answer.status, 400, `${name}: ${answer.text}`);
    assert.equal(answer.json.error.code, "validation_failed", name);
    assert.deepEqual(
      answer.json.error.problems.map((problem) => problem.path),
      paths,
      `${name}: ${JSON.stringify(answer.json.error.problems)}`,
    );
    for (const problem of answer.json.error.problems) assert.ok(problem.reason.length > 5, `${name}: ${problem.reason}`);
    assert.deepEqual(await pipeline.draftRow(id), before, `${name}: the row changed`);
  }
});

test("Japanese text and emoji are accepted, counted by character, and stored as written", async () => {
  const { draftId: id, revision } = await newDraft();
  const text = {
    caption: "秋の新メニューが始まりました🍁 かぼちゃのスープと栗のケーキ、ぜひどうぞ☕️\n@cafe_tokyo でお待ちしています！",
    hashtags: ["秋の新作", "＃カフェ", "#栗"],
    altText: "木のテーブルに置かれたかぼちゃのスープと栗のケーキ🌰",
  };
  const answer = await edit(id, { revision, ...text });
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json.caption, text.caption);
  // The sign is not part of a tag; Instagram gets it back in front of each.
  assert.deepEqual(answer.json.hashtags, ["秋の新作", "カフェ", "栗"]);
  assert.equal(answer.json.altText, text.altText);
  assert.equal(answer.json.instagramCaption, `${text.caption}\n\n#秋の新作 #カフェ #栗`);
  const row = await pipeline.draftRow(id);
  assert.equal(row.caption, text.caption);
  assert.deepEqual(JSON.parse(row.hashtags), ["秋の新作", "カフェ", "栗"]);
  assert.equal(row.alt_text, text.altText);

  // 2,200 characters outside the BMP (4,400 UTF-16 units) is exactly the limit; one more is not.
  const full = await edit(id, { revision: revision + 1, caption: "🍁".repeat(2200), hashtags: [] });
  assert.equal(full.status, 200, full.text.slice(0, 300));
  const over = await edit(id, { revision: revision + 2, caption: "🍁".repeat(2201) });
  assert.equal(over.status, 400, over.text.slice(0, 300));
  assert.deepEqual(over.json.error.problems.map((p) => p.path), ["caption"]);
});

test("POST /api/v1/text/check counts as an edit counts: at every limit the edit is saved, one over it is refused", async () => {
  const { draftId: id, revision } = await newDraft();
  async function check(text) {
    const answer = await pipeline.request("POST", "/api/v1/text/check", { body: text });
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    return answer.json;
  }
  // 20 accounts (a repeat in another case, or before a full stop, is the same one), the
  // caption's #Soup is the list's soup, #1 is no hashtag, spaces are trimmed and \r\n is one
  // character: 2,200 characters with the hashtags, 5 hashtags, 1,000 characters of alt text.
  const mentions = Array.from({ length: 20 }, (_, i) => `@shop${i}`).join(" ");
  const hashtags = ["soup", "#秋", "カフェ", "栗", "ramen"];
  const start = ` ${mentions} @SHOP0 @shop1. #Soup ＃soup #1\r\n`;
  const fill = 2200 - [...`${start.trim()}\n\n#soup #秋 #カフェ #栗 #ramen`].length - 1;
  const caption = (extra = "") => `${start}${"🍁".repeat(fill - [...extra].length)}${extra}\n `;
  const text = { caption: caption(), hashtags, altText: ` ${"a".repeat(1000)} ` };
  const limits = { caption: 2200, altText: 1000, hashtags: 5, mentions: 20 };
  const at = await check(text);
  assert.deepEqual(at.counts, { captionChars: 2200, mentions: 20, hashtags: 5, hashtagsInCaption: 2, altTextChars: 1000 });
  assert.deepEqual(at.limits, limits);
  assert.deepEqual(at.refused, []);
  const tags = at.instagramCaption.filter((run) => run.hashtag).map((run) => run.text);
  assert.deepEqual(tags, ["#Soup", "＃soup", "#soup", "#秋", "#カフェ", "#栗", "#ramen"]);

  // One over each limit: the check counts it, and the edit is refused at that field.
  const over = [
    { name: "a character", text: { ...text, caption: caption().replace("🍁", "🍁🍁") }, count: { captionChars: 2201 }, path: "caption" },
    { name: "an account", text: { ...text, caption: caption("@x") }, count: { mentions: 21 }, path: "caption" },
    { name: "a hashtag", text: { ...text, caption: caption("#x") }, count: { hashtags: 6, hashtagsInCaption: 3 }, path: "caption" },
    { name: "alt text", text: { ...text, altText: "a".repeat(1001) }, count: { altTextChars: 1001 }, path: "altText" },
  ];
  for (const { name, text: changed, count, path } of over) {
    assert.deepEqual((await check(changed)).counts, { ...at.counts, ...count }, name);
    const refused = await edit(id, { revision, ...changed });
    assert.equal(refused.status, 400, `${name}: ${refused.text.slice(0, 300)}`);
    assert.deepEqual(refused.json.error.problems.map((p) => p.path), [path], name);
  }
  const saved = await edit(id, { revision, ...text });
  assert.equal(saved.status, 200, saved.text.slice(0, 300));
  // The caption the check showed is the one Instagram is sent.
  assert.equal(at.instagramCaption.map((run) => run.text).join(""), saved.json.instagramCaption);
});

// ---------------------------------------------------------------------------------------------
// The KV read copy

test("a KV copy that lags D1 is never read: GET and PATCH use D1's text and revision, and the copy catches up", async () => {
  const { draftId: id } = await newDraft();
  const old = await copyAt(id, 1);
  const edited = await edit(id, { revision: 1, caption: "The caption as it is now, in D1" });
  assert.equal(edited.status, 200, edited.text);
  await copyAt(id, 2);
  // KV lags: it holds the older document again (older caption, older revision).
  const stale = { ...old, text: { ...old.text, caption: "STALE caption from the KV copy" } };
  await (await pipeline.draftsKv()).put(`draft:${id}`, JSON.stringify(stale));
  assert.equal((await kvCopy(id)).text.caption, "STALE caption from the KV copy", "the KV copy was not overwritten");
  const row = await pipeline.draftRow(id);

  const shown = await read(id);
  assert.equal(shown.status, 200);
  assert.equal(shown.json.revision, 2);
  assert.equal(shown.json.caption, "The caption as it is now, in D1");
  assert.deepEqual(shown.json.hashtags, JSON.parse(row.hashtags));

  // The KV copy's revision is not the draft's.
  const byCopy = await edit(id, { revision: stale.revision, altText: "Alt text from a page that read KV" });
  assert.equal(byCopy.status, 409, byCopy.text);
  assert.equal(byCopy.json.error.current.caption, "The caption as it is now, in D1");

  // D1's revision works, and the edit merges with D1's text, never the copy's.
  const merged = await edit(id, { revision: 2, altText: "New alt text" });
  assert.equal(merged.status, 200, merged.text);
  assert.equal(merged.json.revision, 3);
  assert.equal(merged.json.caption, "The caption as it is now, in D1");
  assert.deepEqual(merged.json.hashtags, JSON.parse(row.hashtags));
  assert.equal(merged.json.altText, "New alt text");
  assert.equal((await pipeline.draftRow(id)).caption, "The caption as it is now, in D1");

  // The copy is refreshed after the edit's answer.
  const refreshed = await copyAt(id, 3);
  assert.deepEqual(refreshed.text, { caption: "The caption as it is now, in D1", hashtags: JSON.parse(row.hashtags), altText: "New alt text" });
});

// ---------------------------------------------------------------------------------------------
// Image jobs

test("one image message delivered twice at the same moment: one image made and recorded", async (t) => {
  await pipeline.db.prepare("CREATE TABLE e2e_image_claims (draft_id TEXT NOT NULL, claim TEXT NOT NULL)").run();
  // Every claim taken on an image: a job makes an image only after a claim.
  await pipeline.db
    .prepare(
      `CREATE TRIGGER e2e_log_image_claims AFTER UPDATE OF image_claim ON drafts
       WHEN NEW.image_claim IS NOT NULL AND NEW.image_claim IS NOT OLD.image_claim
       BEGIN INSERT INTO e2e_image_claims (draft_id, claim) VALUES (NEW.id, NEW.image_claim); END`,
    )
    .run();
  try {
    const seen = [];
    let racedAtTheClaim = 0;
    for (let round = 0; round < 3; round += 1) {
      const { draftId: id } = await newDraft();
      const message = imageMessage(id);
      const from = pipeline.statements.length;
      const deliveries = await Promise.all(COPIES.map((copy) => pipeline.deliver(copy, "image-queue", [message])));
      const claimWrites = pipeline.statements
        .slice(from)
        .filter(({ worker, sql }) => COPIES.includes(worker) && /^\s*UPDATE drafts SET/.test(sql) && /image_lease_expires_at = \?/.test(sql)).length;
      assert.deepEqual(
        deliveries.map((d) => d.outcomes),
        [["acked"], ["acked"]],
      );
      const outcomes = (await pointsFor(id, 2)).map((point) => point.blobs[3]).sort();
      seen.push(`${outcomes.join("+")} (${claimWrites} claim attempt(s))`);
      assert.equal(outcomes.length, 2, outcomes.join());
      assert.ok(outcomes.includes("stored"), outcomes.join());
      assert.equal(outcomes.filter((o) => o === "stored").length, 1, outcomes.join());
      const other = outcomes.find((o) => o !== "stored");
      // The second delivery found the claim (busy) or, had it come later, the stored image (skipped).
      assert.ok(["busy", "skipped"].includes(other), outcomes.join());
      // When both read the image as pending and both tried to claim it, the conditional claim
      // let one through: the other stepped aside without making an image.
      if (claimWrites === 2) assert.equal(other, "busy", outcomes.join());
      if (claimWrites === 2) racedAtTheClaim += 1;

      const claims = await pipeline.db.prepare("SELECT claim FROM e2e_image_claims WHERE draft_id = ?1").bind(id).all();
      assert.equal(claims.results.length, 1, `claims taken: ${JSON.stringify(claims.results)}`);
      const row = await pipeline.draftRow(id);
      assert.equal(row.image_status, "ready");
      assert.equal(row.image_claim, null);
      assert.equal(row.image_lease_expires_at, null);
      assert.equal(row.revision, 2, "the image was recorded more than once");
      assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), [row.image_key], "not exactly one image in R2");
    }
    t.diagnostic(`outcomes per round: ${seen.join(", ")}`);
    // At least once both deliveries reached the claim: the race was decided by the store.
    assert.ok(racedAtTheClaim >= 1, `no round raced at the claim: ${seen.join(", ")}`);
  } finally {
    await pipeline.db.prepare("DROP TRIGGER e2e_log_image_claims").run();
    await pipeline.db.prepare("DROP TABLE e2e_image_claims").run();
  }
});

test("a queue message with an unknown field is retried, not acked, and recorded once with its raw body", async () => {
  const { draftId: id } = await newDraft();
  const before = await pipeline.draftRow(id);
  const body = { ...imageMessage(id), priority: "high" };
  const messageId = `message-${randomUUID()}`;
  const first = await pipeline.deliver(IMAGE, "image-queue", [body], { ids: [messageId] });
  assert.deepEqual(first.outcomes, ["retried"]);
  const recorded = await pipeline.db.prepare("SELECT * FROM dead_letters WHERE message_id = ?1").bind(messageId).first();
  assert.ok(recorded, "not recorded");
  assert.equal(recorded.deliveries, 1);
  // The queue delivers it again: the same record counts up.
  const second = await pipeline.deliver(IMAGE, "image-queue", [body], { ids: [messageId], attempts: 2 });
  assert.deepEqual(second.outcomes, ["retried"]);
  const { results } = await pipeline.db.prepare("SELECT * FROM dead_letters WHERE message_id = ?1").bind(messageId).all();
  assert.equal(results.length, 1);
  const [letter] = results;
  assert.equal(letter.deliveries, 2);
  assert.equal(letter.queue, "image-queue");
  assert.equal(letter.body, JSON.stringify(body));
  assert.match(letter.reason, /unknown field "priority"/);
  assert.ok(letter.last_seen_at >= letter.first_seen_at);
  assert.deepEqual(await pipeline.draftRow(id), before, "the malformed message changed the draft");
  assert.deepEqual(await pipeline.mediaKeys(`images/${id}/`), []);
});

// ---------------------------------------------------------------------------------------------
// Housekeeping

/** Inserts a draft row as generate's insert leaves it (no text yet), `ageMs` old. */
async function insertTextless(ageMs, columns = {}) {
  const at = rfc3339(Date.now() - ageMs);
  const row = {
    id: randomUUID(),
    revision: 0,
    language: "en",
    provider: "template",
    image_prompt: "A bowl of squash soup",
    request: JSON.stringify({ brief: "A bowl of squash soup", language: "en" }),
    writer: JSON.stringify({ provider: "template", model: null, offline: true }),
    created_at: at,
    updated_at: at,
    ...columns,
  };
  await insertStatement(pipeline.db, "drafts", row).run();
  return row;
}

async function putImage(key) {
  const bucket = await pipeline.mf.getR2Bucket("MEDIA", "api");
  await bucket.put(key, new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), { httpMetadata: { contentType: "image/jpeg" } });
}

test("housekeeping: textless drafts older than the lease are finished from their KV copy or removed with their image", async () => {
  const old = 2 * 3600 * 1000; // well past the lease (2 x 10 s + 30 s)
  const text = { caption: "Finished from the copy kept in KV", hashtags: ["autumn", "cafe"], altText: "A bowl of soup" };
  const withCopy = await insertTextless(old);
  await (await pipeline.draftsKv()).put(
    `draft:${withCopy.id}`,
    JSON.stringify({
      draftId: withCopy.id,
      request: JSON.parse(withCopy.request),
      text,
      writer: JSON.parse(withCopy.writer),
      revision: 1,
      createdAt: withCopy.created_at,
      updatedAt: withCopy.created_at,
    }),
  );
  const imageKey = `images/${randomUUID()}/0123456789abcdef.jpg`;
  const withoutCopy = await insertTextless(old, { image_status: "ready", image_key: imageKey });
  await putImage(imageKey);
  // Its request may still be running: left alone.
  const young = await insertTextless(5_000);
  const youngBefore = await pipeline.draftRow(young.id);
  assert.equal((await read(withCopy.id)).status, 404, "a textless draft is visible");

  await pipeline.runCron({ worker: CRON });

  const finished = await pipeline.draftRow(withCopy.id);
  assert.equal(finished.caption, text.caption);
  assert.deepEqual(JSON.parse(finished.hashtags), text.hashtags);
  assert.equal(finished.alt_text, text.altText);
  assert.equal(finished.generated_caption, text.caption);
  assert.equal(finished.revision, 1);
  const shown = await read(withCopy.id);
  assert.equal(shown.status, 200, shown.text);
  assert.equal(shown.json.caption, text.caption);

  assert.equal(await pipeline.draftRow(withoutCopy.id), null, "the textless draft without a copy was kept");
  assert.deepEqual(await pipeline.mediaKeys(imageKey), [], "its image was kept");

  assert.deepEqual(await pipeline.draftRow(young.id), youngBefore, "a young textless draft was touched");
});

test("housekeeping: R2 objects under images/ that no draft points at are removed after the grace; referenced ones stay", async () => {
  const { draftId: id } = await newDraft();
  const stored = await makeImage(id);
  const approvedKey = `images/${randomUUID()}/approved0000000.jpg`;
  await pipeline.db
    .prepare("UPDATE drafts SET approved_image_key = ?2 WHERE id = ?1")
    .bind((await newDraft()).draftId, approvedKey)
    .run();
  await putImage(approvedKey);
  const orphan = `images/${randomUUID()}/orphan000000000.jpg`;
  await putImage(orphan);
  const elsewhere = `exports/${randomUUID()}.jpg`;
  await putImage(elsewhere);

  // With the default grace (60 minutes) a new orphan stays: its job may not have recorded it yet.
  await pipeline.runCron({ worker: CRON_WITH_GRACE });
  assert.deepEqual(await pipeline.mediaKeys(orphan), [orphan], "removed within the grace period");

  // ORPHAN_IMAGE_GRACE_MINUTES = 0: it goes, and nothing anyone points at goes with it. (The
  // cut-off is taken in whole seconds, so an object of this very second waits for the next run.)
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await pipeline.runCron({ worker: CRON });
  assert.deepEqual(await pipeline.mediaKeys(orphan), [], "the orphan image was kept");
  assert.deepEqual(await pipeline.mediaKeys(stored.image_key), [stored.image_key], "a draft's image was removed");
  assert.deepEqual(await pipeline.mediaKeys(approvedKey), [approvedKey], "an approved image was removed");
  assert.deepEqual(await pipeline.mediaKeys(elsewhere), [elsewhere], "an object outside images/ was removed");
  const shown = await read(id);
  assert.equal(shown.json.image.url, `${pipeline.url}/media/${stored.image_key}`);
  assert.equal((await fetch(shown.json.image.url)).status, 200);
});
