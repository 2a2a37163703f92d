// Assertions and probes shared by the e2e test files.
import assert from "node:assert/strict";
import { createServer } from "node:net";

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** A key that looks like a real OpenAI key, so the `sk-` redaction has something to find. */
export const OPENAI_KEY = "sk-test-e2e-7Qx2Lk9PzR4mWv8N";
export const OPENAI_MODEL = "gpt-e2e-fake";

/** D1's RFC 3339 form of `date` (a Date or milliseconds), whole seconds, as the Workers write times. */
export function rfc3339(date) {
  return new Date(date).toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * The caption Instagram receives: domain::content::PostText::instagram_caption (the caption,
 * then a blank line and the hashtags, each with one `#`).
 */
export function instagramCaption(caption, hashtags) {
  return hashtags.length === 0 ? caption.trim() : `${caption.trim()}\n\n${hashtags.map((tag) => `#${tag.replace(/^#/, "")}`).join(" ")}`;
}

/** `INSERT INTO table` of `row`'s columns and values, a statement to run or batch. */
export function insertStatement(db, table, row) {
  const names = Object.keys(row);
  return db
    .prepare(`INSERT INTO ${table} (${names.join(", ")}) VALUES (${names.map((_, i) => `?${i + 1}`).join(", ")})`)
    .bind(...Object.values(row));
}

/** The ids of every draft row. */
export async function draftIds(pipeline) {
  const { results } = await pipeline.db.prepare("SELECT id FROM drafts").all();
  return new Set(results.map((row) => row.id));
}

/** Rows of drafts not in `known`. */
export async function newDraftRows(pipeline, known) {
  const { results } = await pipeline.db.prepare("SELECT * FROM drafts").all();
  return results.filter((row) => !known.has(row.id));
}

/** Everything a failed or refused request must leave as it was. */
export function assertNothingStored(before, after, what = "") {
  assert.deepEqual(after, before, `${what}: something was stored`.trim());
}

/** Fails when `text` holds any of `secrets`, or a long piece of one. */
export function assertNoSecret(text, secrets, where) {
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `${where} contains the secret ${secret}:\n${text}`);
    const tail = secret.slice(-10);
    assert.ok(!text.includes(tail), `${where} contains the end of the secret ${secret}:\n${text}`);
  }
}

/** Fetches a public image and checks it is a whole JPEG. */
export async function assertJpegAt(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  assert.equal(response.headers.get("content-type"), "image/jpeg");
  // The type is the server's, never sniffed from the bytes.
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  const bytes = new Uint8Array(await response.arrayBuffer());
  assert.deepEqual([...bytes.slice(0, 3)], [0xff, 0xd8, 0xff], "no JPEG start marker");
  assert.deepEqual([...bytes.slice(-2)], [0xff, 0xd9], "no JPEG end marker");
  assert.ok(bytes.length > 1000, `only ${bytes.length} bytes`);
  return bytes;
}

/**
 * Width and height of a JPEG from its frame header (SOF0, SOF1 or SOF2), read independently
 * of the Rust reader in crates/media so that the two check each other.
 */
export function jpegSize(bytes) {
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    assert.equal(bytes[pos], 0xff, `no JPEG marker at byte ${pos}`);
    while (bytes[pos] === 0xff) pos += 1;
    const marker = bytes[pos];
    const length = (bytes[pos + 1] << 8) | bytes[pos + 2];
    if (marker >= 0xc0 && marker <= 0xc2) {
      return { height: (bytes[pos + 4] << 8) | bytes[pos + 5], width: (bytes[pos + 6] << 8) | bytes[pos + 7] };
    }
    assert.ok(marker !== 0xda && marker !== 0xd9, `no frame header before marker 0x${marker.toString(16)}`);
    pos += 1 + length;
  }
  assert.fail("the JPEG ends before its frame header");
}

/**
 * Checks Instagram's rules for a published image: at most 8 MiB, 320 to 1440 px wide,
 * aspect ratio from 4:5 to 1.91:1. Returns the size.
 */
export function assertInstagramSize(bytes) {
  const { width, height } = jpegSize(bytes);
  assert.ok(bytes.length <= 8 * 1024 * 1024, `${bytes.length} bytes is over 8 MiB`);
  assert.ok(width >= 320 && width <= 1440, `${width} px wide`);
  assert.ok(5 * width >= 4 * height && 100 * width <= 191 * height, `${width}x${height} px`);
  return { width, height };
}

/**
 * Drafts with images and the bytes /media serves, bound to a test file's pipeline:
 * `const { draftWithImage, sharedDraft, r2Bytes, getBytes } = withImages(() => pipeline)`.
 */
export function withImages(current) {
  /** A draft made by the template writer, with its image stored: `{ id, draft, key }`. */
  async function draftWithImage(brief = "Our new autumn menu: squash soup and chestnut cake") {
    const pipeline = current();
    const made = await pipeline.generate({ brief, language: "en" });
    assert.equal(made.status, 201, made.text);
    const id = made.json.draftId;
    const row = await pipeline.eventually(async () => {
      const row = await pipeline.draftRow(id);
      return row?.image_status === "ready" && row;
    }, { what: `the image of draft ${id}` });
    const draft = await pipeline.request("GET", `/api/v1/drafts/${id}`);
    assert.equal(draft.status, 200, draft.text);
    return { id, draft: draft.json, key: row.image_key };
  }

  let shared;
  /** One draft with its image for every media test of a file. */
  async function sharedDraft() {
    shared ??= draftWithImage();
    return shared;
  }

  async function r2Bytes(key) {
    const bucket = await current().mf.getR2Bucket("MEDIA", "api");
    const object = await bucket.get(key);
    assert.ok(object, `no R2 object ${key}`);
    return Buffer.from(await object.arrayBuffer());
  }

  /** GET `path` of the api Worker, answering status, headers and the body's bytes. */
  async function getBytes(path, headers = {}) {
    const response = await fetch(current().url + path, { headers });
    return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
  }

  return { draftWithImage, sharedDraft, r2Bytes, getBytes };
}

/** A loopback URL nothing listens on: connecting to it is refused. */
export async function closedPortUrl() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
