// What the publish tests share: the pipeline with the publish consumer pointed at the Graph
// API simulator, approved drafts made directly in D1 and R2 (the approve endpoint is another
// file's business), message helpers and probes of what the consumer wrote.
//
// The publish consumer starts idle (no queue consumers): every batch is handed to it with
// `deliver`, so each test knows exactly what ran; what it sends is recorded (`record`).
import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { GraphPipeline, REVIEWER, startWithGraph } from "./harness.mjs";
import { insertStatement, instagramCaption, jpegSize, rfc3339 } from "./support.mjs";

export { instagramCaption, rfc3339 };

export const PUBLISH = "publish-consumer";
export const IMAGE = "image-consumer";
/** domain::backoff::Backoff::PUBLISH */
export const PUBLISH_BACKOFF = { baseSeconds: 30, capSeconds: 1800, maxAttempts: 5 };
/** The publish consumer's settings in these tests (wrangler/publish-consumer.toml [vars] otherwise). */
export const SETTINGS = {
  GRAPH_TIMEOUT_MS: "3000",
  PUBLISH_LEASE_SECONDS: "60",
  PUBLISH_POLL_SECONDS: "7",
  PUBLISH_QUOTA_WAIT_SECONDS: "900",
  PUBLISH_MAX_ATTEMPTS: "5",
  // After a media_publish answer that leaves open whether it went out, a FINISHED container
  // counts as unknown this long (300 s once deployed).
  PUBLISH_SETTLE_SECONDS: "2",
};

export function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A message in the wire form of domain::message::QueueMessage. */
export function message(id, { action = "publish", attempt = 1, requestedAt = new Date() } = {}) {
  return { id, action, attempt, requestedAt: requestedAt.toISOString() };
}

/**
 * Starts the Workers with the Graph API simulator, an alert webhook fake and the relay
 * (startWithGraph). `sim` are the simulator's options, `vars` the publish consumer's variables
 * on top of SETTINGS, `copies` more copies of a consumer and `idle` the consumers started
 * without their queues (see startPipeline; the publish consumer always is). `record: false`
 * leaves the metrics and queue producers as they are deployed (no `sent`, no `metrics`), for
 * the benchmark; `logs` keeps the Workers' log lines in `pipeline.logs`; `d1LatencyMs` makes
 * every D1 statement wait that long first (see startPipeline).
 */
export async function startPublishing({ sim = {}, vars = {}, copies = {}, idle = [], record = true, logs = false, d1LatencyMs } = {}) {
  const started = await startWithGraph({
    sim,
    webhook: true,
    vars: { [PUBLISH]: { ...SETTINGS, ...vars } },
    options: { record, idle: [...new Set([PUBLISH, ...idle])], copies, logs, d1LatencyMs },
  });
  return new Publishing(started);
}

export class Publishing extends GraphPipeline {
  constructor(started) {
    super(started);
    this.jpegBytes = null;
    this.callsMark = 0;
    this.containersMark = 0;
    this.mediaMark = 0;
  }

  /**
   * A clean slate for the next test: no faults, default settings, and the calls, containers
   * and media seen from here on. (The simulator's own reset would restart its ids, which the
   * drafts of earlier tests still hold in D1.)
   */
  resetSim() {
    this.sim.control.clearFaults();
    this.sim.control.configure({ finishAfterMs: 0, finishAfterReads: 0 });
    this.callsMark = this.sim.calls.length;
    this.containersMark = this.sim.state.containers().length;
    this.mediaMark = this.sim.state.media().length;
  }

  /** Graph calls since the last `resetSim`, all or of operation `op`. */
  calls(op) {
    return this.sim.calls.slice(this.callsMark).filter((call) => op === undefined || call.op === op);
  }

  /** The operations of the Graph calls since the last `resetSim`. */
  ops() {
    return this.calls().map((call) => call.op);
  }

  /** Containers made since the last `resetSim`. */
  containers() {
    return this.sim.state.containers().slice(this.containersMark);
  }

  /** Posts published since the last `resetSim`. */
  media() {
    return this.sim.state.media().slice(this.mediaMark);
  }

  /** A real JPEG from the image consumer (the placeholder maker), made once. */
  async jpeg() {
    if (this.jpegBytes) return this.jpegBytes;
    const id = randomUUID();
    const now = rfc3339(new Date());
    await this.db
      .prepare(
        "INSERT INTO drafts (id, language, provider, image_prompt, created_at, updated_at) VALUES (?1, 'en', 'template', 'A bowl of soup', ?2, ?2)",
      )
      .bind(id, now)
      .run();
    const { outcomes } = await this.pipeline.deliver(IMAGE, "image-queue", [message(id, { action: "generate_image" })]);
    assert.deepEqual(outcomes, ["acked"]);
    const row = await this.pipeline.draftRow(id);
    assert.equal(row.image_status, "ready", "the image consumer made no image");
    const object = await (await this.bucket()).get(row.image_key);
    this.jpegBytes = new Uint8Array(await object.arrayBuffer());
    return this.jpegBytes;
  }

  bucket() {
    return this.pipeline.mf.getR2Bucket("MEDIA", "api");
  }

  /**
   * Approved drafts as the approve endpoint leaves them: text and approved snapshot in D1,
   * the image in R2 under its own key. Each draft has an image of its own (the placeholder
   * JPEG with the draft's id in a comment segment, so its bytes and hash differ from every
   * other draft's) and an alt text of its own, so a test can tell which draft a post came
   * from. `spec(i)` may override id, caption, hashtags, altText, image (bytes) and any column.
   */
  async approvedDrafts(count, spec = () => ({})) {
    const jpeg = await this.jpeg();
    const bucket = await this.bucket();
    const drafts = [];
    const statements = [];
    for (let i = 0; i < count; i += 1) {
      const given = spec(i);
      const id = given.id ?? randomUUID();
      const { caption, hashtags, altText, image, columns } = {
        caption: `Autumn soup ${i} is back at the cafe, ${randomBytes(4).toString("hex")}`,
        hashtags: ["autumn", "soup"],
        altText: `A bowl of orange squash soup on a wooden table (${id.slice(0, 8)})`,
        image: jpegWithComment(jpeg, `draft ${id}`),
        columns: {},
        ...given,
      };
      const key = `images/${id}/${randomBytes(8).toString("hex")}.jpg`;
      await bucket.put(key, image, { httpMetadata: { contentType: "image/jpeg" } });
      const now = rfc3339(new Date());
      const row = {
        id,
        status: "approved",
        revision: 2,
        language: "en",
        provider: "template",
        caption,
        hashtags: JSON.stringify(hashtags),
        alt_text: altText,
        generated_caption: caption,
        generated_hashtags: JSON.stringify(hashtags),
        generated_alt_text: altText,
        image_status: "ready",
        image_key: key,
        image_prompt: "A bowl of soup",
        approved_revision: 2,
        approved_caption: caption,
        approved_hashtags: JSON.stringify(hashtags),
        approved_alt_text: altText,
        approved_image_key: key,
        approved_at: now,
        approved_by: "e2e",
        created_at: now,
        updated_at: now,
        ...columns,
      };
      statements.push(insertStatement(this.db, "drafts", row));
      drafts.push({ id, key, image, sha256: sha256(image), caption, hashtags, altText, instagramCaption: instagramCaption(caption, hashtags) });
    }
    for (let i = 0; i < statements.length; i += 50) await this.db.batch(statements.slice(i, i + 50));
    return drafts;
  }

  /**
   * Drafts with images of their own (`drafts.media_items`) and options (`post_options`), as
   * the intake writes them: each item's fitted JPEG in R2 (distinct bytes per draft and item),
   * the row written to D1 under review, then approved through the approve route, which copies
   * both to the approved columns and queues the publish message. `spec(i)` may give `id`,
   * `items` (`[{source, altText}]`: "uploaded" (default), "imageModel", "placeholder"; none: a
   * draft of one generated image, as before), `options` (PostOptions' JSON form) and what
   * `approvedDrafts` takes. Each draft comes back with its `items` (`key`, `sha256`,
   * `altText`, `source`) and `options`.
   */
  async formatDrafts(count, spec = () => ({})) {
    const jpeg = await this.jpeg();
    const { width, height } = jpegSize(jpeg);
    const bucket = await this.bucket();
    const specs = [];
    for (let i = 0; i < count; i += 1) {
      const given = spec(i);
      const id = given.id ?? randomUUID();
      const items = [];
      for (const [n, item] of (given.items ?? []).entries()) {
        const image = jpegWithComment(jpeg, `draft ${id} item ${n + 1}`);
        const key = `images/${id}/item-${n + 1}-${randomBytes(4).toString("hex")}.jpg`;
        await bucket.put(key, image, { httpMetadata: { contentType: "image/jpeg" } });
        items.push({
          id: `item-${n + 1}`,
          source: item.source ?? "uploaded",
          altText: item.altText ?? `Photo ${n + 1} of draft ${id.slice(0, 8)}: a cup of coffee`,
          key,
          sha256: sha256(image),
        });
      }
      specs.push({ ...given, id, items, options: given.options ?? null });
    }
    const stored = (item) => ({ id: item.id, source: item.source, altText: item.altText, image: { state: "ready", key: item.key, width, height } });
    const underReview = {
      status: "draft",
      approved_revision: null,
      approved_caption: null,
      approved_hashtags: null,
      approved_alt_text: null,
      approved_image_key: null,
      approved_at: null,
      approved_by: null,
    };
    const drafts = await this.approvedDrafts(count, (i) => ({
      ...specs[i],
      columns: {
        ...underReview,
        media_items: specs[i].items.length > 0 ? JSON.stringify(specs[i].items.map(stored)) : null,
        post_options: specs[i].options ? JSON.stringify(specs[i].options) : null,
        ...specs[i].columns,
      },
    }));
    for (const draft of drafts) {
      const approved = await this.pipeline.request("POST", `/api/v1/drafts/${draft.id}/approve`, { body: { revision: 2 }, token: REVIEWER.token });
      assert.equal(approved.status, 200, approved.text);
    }
    return drafts.map((draft, i) => ({ ...draft, items: specs[i].items, options: specs[i].options }));
  }

  async approvedDraft(spec = {}) {
    const [draft] = await this.approvedDrafts(1, () => spec);
    return draft;
  }

  /** Hands `bodies` to the publish consumer as one batch from publish-queue. */
  publish(bodies, options) {
    return this.pipeline.deliver(PUBLISH, "publish-queue", bodies, options);
  }

  /** Hands `bodies` to the publish consumer as one batch from failed-queue. */
  failed(bodies, options) {
    return this.pipeline.deliver(PUBLISH, "failed-queue", bodies, options);
  }

  async logs(id) {
    const { results } = await this.db.prepare("SELECT * FROM publish_logs WHERE draft_id = ?1 ORDER BY id").bind(id).all();
    return results;
  }

  /** `step outcome` of each log row, for compact assertions. */
  async steps(id) {
    return (await this.logs(id)).map((row) => `${row.step} ${row.outcome}`);
  }

  /** Messages the consumer sent to `queue` for draft `id`, oldest first. */
  sent(queue, id) {
    return this.pipeline.sent.filter((s) => s.queue === queue && (id === undefined || s.body?.id === id));
  }

  async alertRow(kind) {
    return this.db.prepare("SELECT * FROM operator_alerts WHERE kind = ?1").bind(kind).first();
  }

  /** Data points written for draft `id` whose first blob is `event`. */
  points(id, event) {
    return this.pipeline.metrics.filter((point) => point.indexes[0] === id && point.blobs[0] === event);
  }
}

/**
 * A seeded source of choices (mulberry32: small, and enough for choosing faults), so that a
 * randomized test run can be replayed from its printed seed.
 */
export function seeded(seed) {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (low, high) => low + Math.floor(random() * (high - low + 1));
  return {
    random,
    int,
    chance: (p) => random() < p,
    pick: (list) => list[Math.floor(random() * list.length)],
    shuffle(list) {
      for (let i = list.length - 1; i > 0; i -= 1) {
        const j = Math.floor(random() * (i + 1));
        [list[i], list[j]] = [list[j], list[i]];
      }
      return list;
    },
  };
}

/** A UUID (version 4 form) made from `text`: the same text, the same id. */
export function uuidFrom(text) {
  const h = createHash("sha256").update(text).digest("hex");
  const variant = (8 + (Number.parseInt(h[16], 16) & 3)).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `jpeg` with a comment segment (COM, 0xFFFE) holding `text` right after its start marker: the
 * same picture to every decoder, different bytes (and hash) per text.
 */
export function jpegWithComment(jpeg, text) {
  const comment = Buffer.from(text, "utf8");
  const length = comment.length + 2;
  if (length > 0xffff) throw new Error("a JPEG comment holds at most 65533 bytes");
  const segment = Buffer.from([0xff, 0xfe, length >> 8, length & 0xff]);
  return new Uint8Array(Buffer.concat([jpeg.subarray(0, 2), segment, comment, jpeg.subarray(2)]));
}

/** Asserts the delay of a retry after `attempt` lies in the backoff's equal-jitter window. */
export function assertBackoff(delaySeconds, attempt) {
  const step = Math.min(PUBLISH_BACKOFF.baseSeconds * 2 ** (attempt - 1), PUBLISH_BACKOFF.capSeconds);
  assert.ok(
    Number.isInteger(delaySeconds) && delaySeconds >= Math.floor(step / 2) && delaySeconds <= step,
    `delay ${delaySeconds} s after attempt ${attempt} is outside [${Math.floor(step / 2)}, ${step}]`,
  );
}
