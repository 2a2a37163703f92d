// Each account's voice: saved through PUT /api/v1/accounts/{id}/voice by a named reviewer
// (revision-checked), put into the model's prompt, avoided words in a generated caption
// repaired, always-used hashtags put in, edits that break it refused by field, and a draft
// of another account written and checked in that account's voice.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { reply, startFakeOpenAI, VALID_POST } from "../fakes/openai.mjs";
import { API_TOKEN, REVIEWER, startPipeline } from "./harness.mjs";
import { OPENAI_KEY, OPENAI_MODEL } from "./support.mjs";

const DEFAULT_ACCOUNT = "17841400000000101";
const SECOND_ACCOUNT = "17841400000000102";
const VOICE = {
  language: "en-GB",
  tone: "warm, plain words, no exclamation marks",
  alwaysHashtags: ["ShibuyaCafe"],
  neverHashtags: ["fyp"],
  avoidWords: ["cheap", "best deal"],
  sampleCaptions: ["Fresh chestnut cake from eight. See you at the counter."],
};
/** A reviewer limited to the second account. */
const LIMO = { name: "Limo", token: "limo-review-8b3e1f0a7c6d5e4b2a9f" };
const BODY = { brief: "Autumn menu launch at our Shibuya cafe", tone: "playful", hashtagCount: 5 };

let fake;
let pipeline;
before(async () => {
  fake = await startFakeOpenAI();
  pipeline = await startPipeline({
    api: {
      LLM_PROVIDER: "openai",
      OPENAI_BASE_URL: fake.baseUrl,
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_MODEL,
      LLM_TIMEOUT_MS: "10000",
      REVIEWERS: `${REVIEWER.name}:${REVIEWER.token}\n${LIMO.name}:${LIMO.token} @second_shop`,
    },
  });
  // Two accounts, the default the older one.
  for (const [id, username, at] of [
    [DEFAULT_ACCOUNT, "shibuya_cafe", "2026-01-01T00:00:00Z"],
    [SECOND_ACCOUNT, "second_shop", "2026-02-01T00:00:00Z"],
  ]) {
    await pipeline.db
      .prepare(
        `INSERT INTO accounts (id, username, login, graph_base_url, token_refreshed_at, state, connected_by, connected_at, created_at, updated_at)
         VALUES (?1, ?2, 'facebook', 'http://127.0.0.1:9/graph', ?3, 'disconnected', 'e2e', ?3, ?3, ?3)`,
      )
      .bind(id, username, at)
      .run();
  }
});
after(async () => {
  await pipeline?.dispose();
  await fake?.close();
});
beforeEach(() => fake.reset());

function putVoice(account, body, token = REVIEWER.token) {
  return pipeline.request("PUT", `/api/v1/accounts/${account}/voice`, { body, token });
}

/** Saves `voice` over whatever `account` has. */
async function saveVoice(account, voice) {
  const current = await pipeline.request("GET", `/api/v1/accounts/${account}/voice`);
  assert.equal(current.status, 200, current.text);
  const saved = await putVoice(account, { revision: current.json.revision, ...voice });
  assert.equal(saved.status, 200, saved.text);
  return saved.json;
}

test("a voice is saved by a named reviewer at the revision they saw; a stale save is a conflict; bad fields are named", async () => {
  const empty = await pipeline.request("GET", `/api/v1/accounts/${SECOND_ACCOUNT}/voice`);
  assert.equal(empty.status, 200, empty.text);
  assert.equal(empty.json.revision, 0);
  assert.deepEqual(empty.json.voice.avoidWords, []);

  // The automation's token is no person.
  const byToken = await putVoice(SECOND_ACCOUNT, { revision: 0, ...VOICE }, API_TOKEN);
  assert.equal(byToken.status, 403, byToken.text);

  const first = await putVoice(SECOND_ACCOUNT, { revision: 0, ...VOICE, alwaysHashtags: ["#Second"] });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.revision, 1);
  assert.equal(first.json.updatedBy, REVIEWER.name);
  assert.deepEqual(first.json.voice.alwaysHashtags, ["Second"]);
  const row = await pipeline.db.prepare("SELECT * FROM account_voices WHERE account_id = ?1").bind(SECOND_ACCOUNT).first();
  assert.equal(row.revision, 1);
  assert.deepEqual(JSON.parse(row.voice).avoidWords, VOICE.avoidWords);

  // Someone who saw revision 0 saves after that: refused, the voice as it is now returned.
  const stale = await putVoice(SECOND_ACCOUNT, { revision: 0, ...VOICE, tone: "loud" });
  assert.equal(stale.status, 409, stale.text);
  assert.equal(stale.json.error.code, "revision_conflict");
  assert.equal(stale.json.error.current.revision, 1);
  assert.equal(stale.json.error.current.voice.tone, VOICE.tone);

  const bad = await putVoice(SECOND_ACCOUNT, { revision: 1, language: "nope!", avoidWords: ["ok", " "], neverHashtags: ["Second", "a b"] });
  assert.equal(bad.status, 400, bad.text);
  assert.deepEqual(
    bad.json.error.problems.map((p) => p.path),
    ["language", "neverHashtags[1]", "avoidWords[1]"],
  );
  assert.equal((await pipeline.db.prepare("SELECT revision FROM account_voices WHERE account_id = ?1").bind(SECOND_ACCOUNT).first()).revision, 1);

  const missing = await putVoice("17841499999999999", { revision: 0, ...VOICE });
  assert.equal(missing.status, 404, missing.text);
});

test("the model's prompt carries the default account's voice, whose language is the request's default", async () => {
  await saveVoice(DEFAULT_ACCOUNT, VOICE);
  const created = await pipeline.generate({ ...BODY, hashtagCount: 5 });
  assert.equal(created.status, 201, created.text);
  const [call] = fake.calls();
  const system = call.json.messages[0].content;
  assert.match(system, /language whose BCP 47 tag is "en-GB"/);
  assert.match(system, /The account's voice:\n- Its tone: warm, plain words, no exclamation marks\n/);
  assert.match(system, /- These hashtags must be among the hashtags: #ShibuyaCafe\.\n/);
  assert.match(system, /- These hashtags must not appear, neither in the hashtags nor in the caption: #fyp\.\n/);
  assert.match(system, /- Never use these words, in any case, in the caption, the hashtags or the alt text: "cheap", "best deal"\.\n/);
  assert.match(system, /> Fresh chestnut cake from eight\. See you at the counter\./);
  // The model left the always-used hashtag out: it takes the last place.
  assert.deepEqual(created.json.hashtags, [...VALID_POST.hashtags.slice(0, 4), "ShibuyaCafe"]);
});

test("a generated caption with an avoided word is sent back to the model, and the repaired one kept", async () => {
  await saveVoice(DEFAULT_ACCOUNT, VOICE);
  const bad = reply.post({ ...VALID_POST, caption: "The BEST DEAL in Shibuya: cheap soup", hashtags: ["Soup", "Fyp", "Cafe", "Tokyo", "Autumn"] });
  fake.script(bad, reply.post());
  const created = await pipeline.generate(BODY);
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.caption, VALID_POST.caption);
  const calls = fake.calls();
  assert.equal(calls.length, 2);
  const repair = calls[1].json.messages[3].content;
  assert.match(repair, /caption uses "cheap", a word this account avoids/);
  assert.match(repair, /caption uses "best deal", a word this account avoids/);
  assert.match(repair, /hashtag uses #fyp, a hashtag this account never uses/);
});

test("an edit that uses an avoided word or a never-used hashtag is refused by field; a draft of another account is checked against that account's voice", async () => {
  await saveVoice(DEFAULT_ACCOUNT, VOICE);
  await saveVoice(SECOND_ACCOUNT, { avoidWords: ["gourmet"] });
  const created = await pipeline.generate(BODY);
  assert.equal(created.status, 201, created.text);
  const { draftId, revision } = created.json;

  const refused = await pipeline.request("PATCH", `/api/v1/drafts/${draftId}`, {
    body: { revision, caption: "Cheap and cheerful soup", hashtags: ["soup", "#FYP"], altText: "The best deal" },
  });
  assert.equal(refused.status, 400, refused.text);
  assert.equal(refused.json.error.code, "validation_failed");
  assert.deepEqual(
    refused.json.error.problems.map((p) => [p.path, p.reason]),
    [
      ["caption", 'caption uses "cheap", a word this account avoids'],
      ["hashtags[1]", "hashtag uses #fyp, a hashtag this account never uses"],
      ["altText", 'alt text uses "best deal", a word this account avoids'],
    ],
  );
  assert.equal((await pipeline.draftRow(draftId)).revision, revision, "nothing was written");

  // Inside another word it is no match.
  const fine = await pipeline.request("PATCH", `/api/v1/drafts/${draftId}`, { body: { revision, caption: "Cheapside gourmet soup" } });
  assert.equal(fine.status, 200, fine.text);

  // The same draft as the second account's: its own voice applies.
  await pipeline.db.prepare("UPDATE drafts SET account_id = ?2 WHERE id = ?1").bind(draftId, SECOND_ACCOUNT).run();
  const second = await pipeline.request("PATCH", `/api/v1/drafts/${draftId}`, {
    body: { revision: fine.json.revision, caption: "Gourmet soup, cheap" },
  });
  assert.equal(second.status, 400, second.text);
  assert.deepEqual(second.json.error.problems.map((p) => p.reason), ['caption uses "gourmet", a word this account avoids']);

  // Regenerated, it is written in that account's voice.
  fake.reset();
  const regenerated = await pipeline.request("POST", `/api/v1/drafts/${draftId}/regenerate`, {
    body: { revision: fine.json.revision, text: true },
  });
  assert.equal(regenerated.status, 200, regenerated.text);
  const system = fake.calls()[0].json.messages[0].content;
  assert.match(system, /Never use these words, in any case, in the caption, the hashtags or the alt text: "gourmet"\./);
  assert.doesNotMatch(system, /cheap|ShibuyaCafe/);
});

test("generate for a named account writes in its voice, in its language when the request names none; a reviewer limited to one account reads and saves only its voice", async () => {
  await saveVoice(DEFAULT_ACCOUNT, VOICE);
  await saveVoice(SECOND_ACCOUNT, { language: "fr-FR", avoidWords: ["gourmet"] });
  const created = await pipeline.generate({ ...BODY, account: "@second_shop" });
  assert.equal(created.status, 201, created.text);
  const system = fake.calls()[0].json.messages[0].content;
  assert.match(system, /language whose BCP 47 tag is "fr-FR"/);
  assert.match(system, /: "gourmet"\./);
  assert.doesNotMatch(system, /cheap|ShibuyaCafe/);
  assert.equal((await pipeline.draftRow(created.json.draftId)).account_id, SECOND_ACCOUNT);

  const read = (account) => pipeline.request("GET", `/api/v1/accounts/${account}/voice`, { token: LIMO.token });
  assert.equal((await read(SECOND_ACCOUNT)).status, 200);
  const other = await read(DEFAULT_ACCOUNT);
  assert.equal(other.status, 404, other.text);
  const { revision } = (await read(SECOND_ACCOUNT)).json;
  const saved = await putVoice(SECOND_ACCOUNT, { revision, avoidWords: ["fancy"] }, LIMO.token);
  assert.equal(saved.status, 200, saved.text);
  assert.equal(saved.json.updatedBy, LIMO.name);
  const before = await pipeline.db.prepare("SELECT revision, voice FROM account_voices WHERE account_id = ?1").bind(DEFAULT_ACCOUNT).first();
  const refused = await putVoice(DEFAULT_ACCOUNT, { revision: before.revision, avoidWords: [] }, LIMO.token);
  assert.equal(refused.status, 403, refused.text);
  assert.deepEqual(
    await pipeline.db.prepare("SELECT revision, voice FROM account_voices WHERE account_id = ?1").bind(DEFAULT_ACCOUNT).first(),
    before,
  );
});
