// What the review page's browser tests share: Debian's Chromium driven by playwright-core,
// the compiled Workers started through the e2e harness (startWithGraph) with reviewers
// configured and the Graph API simulator behind the publish consumer, and helpers that make drafts, sign in, check
// the security headers and keep screenshots.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterEach } from "node:test";
import { chromium } from "playwright-core";
import { API_TOKEN, GraphPipeline, ROOT, startWithGraph } from "../e2e/harness.mjs";
import { insertStatement, instagramCaption, rfc3339 } from "../e2e/support.mjs";

export { API_TOKEN, instagramCaption, rfc3339 };

/** Debian's chromium (scripts/setup installs it); playwright-core's own download never works here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Screenshots are test artifacts, kept (ignored by git) for a person to look at. */
export const SCREENSHOTS = join(ROOT, "target", "screenshots");

export const AIKO = { name: "Aiko", token: "aiko-review-7c1f0e9b2d4a68f3c5e1" };
export const BEN = { name: "Ben", token: "ben-review-0a9e8d7c6b5f4e3d2c1b" };
export const REVIEWERS = `${AIKO.name}:${AIKO.token}\n${BEN.name}:${BEN.token}`;

export const IMAGE = "image-consumer";

/**
 * Starts headless Chromium. playwright's launch gives it a fresh, empty user-data-dir of its
 * own (and removes it on close); the flags keep it off this machine's closed network.
 */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: run scripts/setup as root, or install Debian's packages yourself: sudo apt-get install --no-install-recommends chromium fonts-ipafont-gothic fonts-noto-color-emoji`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * The three Workers with two reviewers configured and every queue running: a generated
 * draft gets its image from the image consumer, an approved one is published by the publish
 * consumer against the Graph API simulator (`review.sim`). `record` keeps every queue send
 * in `review.pipeline.sent`; `variants` start more api Workers on the same storage with other
 * variables (`review.pipeline.variant(name)`); `sim` are the simulator's options; `logs`
 * keeps the Workers' log lines in `review.pipeline.logs`.
 */
export async function startReview({ record = false, api = {}, publish = {}, variants = {}, sim = {}, logs = false } = {}) {
  const started = await startWithGraph({
    sim,
    // `api` may be a function of the simulator, for settings that name its URL.
    vars: (simulator) => ({
      api: { REVIEWERS, ...(typeof api === "function" ? api(simulator) : api) },
      "publish-consumer": { GRAPH_TIMEOUT_MS: "5000", ...publish },
    }),
    options: { record, variants, logs },
  });
  return new Review(started);
}

export class Review extends GraphPipeline {

  /** A draft from the generate endpoint (template writer), with its image made unless `image: false`. */
  async generate(body = {}, { image = true } = {}) {
    const created = await this.pipeline.generate({ brief: "Autumn menu launch at our cafe: squash soup and apple pie", language: "en", ...body });
    assert.equal(created.status, 201, created.text);
    if (!image) return created.json;
    return this.imageReady(created.json.draftId);
  }

  /** Waits for the image consumer to store the draft's image; answers the draft's JSON view. */
  imageReady(id) {
    return this.pipeline.eventually(
      async () => {
        const { json } = await this.pipeline.request("GET", `/api/v1/drafts/${id}`);
        return json?.image?.status === "ready" ? json : null;
      },
      { what: `the image of ${id}` },
    );
  }

  /**
   * A draft row written straight into D1, as generate leaves one, without any queue message:
   * its image stays pending until a test hands the image consumer a message (`makeImage`).
   * `columns` override any column (status, last_error, created_at, ...).
   */
  async insertDraft({ caption = "Squash soup is back", hashtags = ["autumn", "soup"], altText = "A bowl of soup", columns = {} } = {}) {
    const id = randomUUID();
    const now = rfc3339(new Date());
    const request = { brief: "Autumn menu launch at our cafe: squash soup and apple pie", language: "en", tone: "friendly", hashtagCount: 3 };
    const row = {
      id,
      status: "draft",
      revision: 1,
      language: "en",
      provider: "template",
      caption,
      hashtags: JSON.stringify(hashtags),
      alt_text: altText,
      generated_caption: caption,
      generated_hashtags: JSON.stringify(hashtags),
      generated_alt_text: altText,
      request: JSON.stringify(request),
      image_status: "pending",
      image_prompt: "A bowl of orange squash soup on a wooden table",
      created_at: now,
      updated_at: now,
      ...columns,
    };
    await insertStatement(this.db, "drafts", row).run();
    return id;
  }

  /** Hands the image consumer the draft's image job, as IMAGE_QUEUE would. */
  async makeImage(id) {
    const { outcomes } = await this.pipeline.deliver(IMAGE, "image-queue", [
      { id, action: "generate_image", attempt: 1, requestedAt: new Date().toISOString() },
    ]);
    assert.deepEqual(outcomes, ["acked"]);
    const row = await this.row(id);
    assert.equal(row.image_status, "ready", "the image consumer made no image");
    return row;
  }

  /** A JSON API request with the bearer token (or `token: null`, or a cookie in `headers`). */
  request(method, path, options) {
    return this.pipeline.request(method, path, options);
  }

  eventually(probe, options) {
    return this.pipeline.eventually(probe, options);
  }
}

/**
 * The browser contexts a test file's tests open, each closed after its test, and the script
 * errors and CSP violations seen on any page watched: a test after which any was seen fails.
 * Call once at the top of a test file (it registers the `afterEach`).
 */
export function trackPages() {
  let contexts = [];
  let problems = [];
  afterEach(async () => {
    await Promise.all(contexts.map((context) => context.close()));
    contexts = [];
    const seen = problems;
    problems = [];
    assert.deepEqual(seen, [], "the page had script errors or CSP violations");
  });
  return {
    /** A new context (its own cookies) in Tokyo's time zone and en-US unless `options` say. */
    async newContext(browser, options = {}) {
      const context = await browser.newContext({ timezoneId: "Asia/Tokyo", locale: "en-US", ...options });
      contexts.push(context);
      return context;
    },
    /** Records `page`'s script errors and CSP violations. */
    watch(page) {
      page.on("pageerror", (error) => problems.push(`${page.url()}: ${error.message}`));
      page.on("console", (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
      });
      return page;
    },
  };
}

/**
 * The session cookie as the browser keeps it: `__Host-` cookies are host-only, `Secure` and
 * for `Path=/` (a cookie given with a URL would be neither here).
 */
export function sessionCookieFor(base, name, value) {
  return { name, value, domain: new URL(base).hostname, path: "/", httpOnly: true, secure: true, sameSite: "Strict" };
}

/**
 * A watched page in a new context of `pages` (see trackPages), signed in as `reviewer` by a
 * session cookie (no login page on the way).
 */
export async function signedInPage(pages, browser, base, reviewer = AIKO, options = {}) {
  const context = await pages.newContext(browser, options);
  const [name, value] = (await sessionCookie(base, reviewer)).split("=");
  await context.addCookies([sessionCookieFor(base, name, value)]);
  return pages.watch(await context.newPage());
}

/** Signs `page` in through the login page with `reviewer`'s name and token. */
export async function signIn(page, base, reviewer = AIKO, next = "") {
  await page.goto(`${base}/review/login${next ? `?next=${encodeURIComponent(next)}` : ""}`);
  await page.getByLabel("Your name").fill(reviewer.name);
  await page.getByLabel("Reviewer token").fill(reviewer.token);
  await Promise.all([page.waitForURL((url) => url.pathname !== "/review/login"), page.getByRole("button", { name: "Sign in" }).click()]);
}

let signIns = 0;
const kept = new Map();

/**
 * A signed-in session's cookie header, for requests sent from node rather than the browser.
 * Each sign-in comes from a client address of its own (`CF-Connecting-IP`, as Cloudflare sets
 * it), as sign-ins from one address are limited to 10 a minute. Sign-ins as one name are
 * limited to 10 a minute too, from wherever they come: a reviewer's session is kept and
 * handed out again while it is alive, and `fresh` signs in anew (for a test that needs a
 * session of its own, to end or expire it).
 */
export async function sessionCookie(base, reviewer = AIKO, { fresh = false } = {}) {
  const key = `${base} ${reviewer.name}`;
  if (!fresh && kept.has(key)) {
    const alive = await fetch(`${base}/api/v1/drafts`, { headers: { cookie: kept.get(key) } });
    await alive.arrayBuffer();
    if (alive.status === 200) return kept.get(key);
  }
  signIns += 1;
  const client = `203.0.113.${signIns % 250}`;
  const response = await fetch(`${base}/review/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base, "cf-connecting-ip": client },
    body: new URLSearchParams({ name: reviewer.name, token: reviewer.token, next: "/review" }),
  });
  assert.equal(response.status, 303, await response.text());
  const cookie = response.headers.get("set-cookie");
  assert.match(cookie, /^__Host-review_session=[0-9a-f]{64};/);
  const session = cookie.split(";")[0];
  if (!fresh) kept.set(key, session);
  return session;
}

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The headers every review page, asset and redirect carries. */
export function assertSecurityHeaders(headers, where) {
  const get = (name) => (typeof headers.get === "function" ? headers.get(name) : headers[name]);
  const csp = get("content-security-policy");
  assert.ok(csp, `${where}: no Content-Security-Policy`);
  const directives = Object.fromEntries(
    csp.split(";").map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]),
  );
  assert.deepEqual(directives["script-src"], ["'self'"], `${where}: script-src ${csp}`);
  assert.ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), `${where}: ${csp}`);
  assert.deepEqual(directives["default-src"], ["'none'"], `${where}: ${csp}`);
  assert.deepEqual(directives["frame-ancestors"], ["'none'"], `${where}: ${csp}`);
  // Images only from this Worker (and the empty data: favicon), not from any https site.
  assert.deepEqual(directives["img-src"], ["'self'", "data:"], `${where}: ${csp}`);
  assert.match(get("strict-transport-security") ?? "", /^max-age=\d{8,}/, `${where}: Strict-Transport-Security`);
  assert.equal(get("x-content-type-options"), "nosniff", where);
  assert.equal(get("x-frame-options"), "DENY", where);
  assert.equal(get("referrer-policy"), "same-origin", where);
  assert.ok(get("cross-origin-opener-policy"), `${where}: no Cross-Origin-Opener-Policy`);
  assert.ok(get("permissions-policy"), `${where}: no Permissions-Policy`);
}

/** Saves a full-page screenshot under target/screenshots/ and answers its path. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The page's horizontal overflow: how much wider than the viewport the document is. */
export function overflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/**
 * A tiny server on another origin (another port is another origin) whose page posts a form
 * to `target` as soon as it loads: what a malicious site would do to a signed-in reviewer.
 */
export async function startEvilSite() {
  const site = { page: "" };
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(site.page);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  // Another port of the same host: another origin but the same site, so a SameSite=Strict
  // cookie still goes along and only the Origin check stands in the way.
  site.sameSiteUrl = `http://127.0.0.1:${port}`;
  // localhost rather than 127.0.0.1: another site altogether.
  site.url = `http://localhost:${port}`;
  site.close = () => new Promise((resolve) => server.close(resolve));
  /** Makes the page post `fields` to `action` with `enctype` as soon as it loads. */
  site.autoPost = (action, fields, enctype = "application/x-www-form-urlencoded") => {
    const inputs = Object.entries(fields)
      .map(([name, value]) => `<input type="hidden" name="${name}" value="${String(value).replace(/"/g, "&quot;")}">`)
      .join("");
    site.page = `<!doctype html><form id="f" method="post" enctype="${enctype}" action="${action}">${inputs}</form><script>document.getElementById("f").submit()</script>`;
  };
  return site;
}

export function randomText() {
  return randomBytes(4).toString("hex");
}
