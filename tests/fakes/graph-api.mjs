// A local, stateful Instagram Graph API for publishing, so tests and `scripts/dev` run the
// whole flow (container -> status -> media_publish -> permalink; a carousel's children and
// parent; the first comment) without a Meta account. It serves several accounts, each with its own media, quota and tokens, and
// Instagram Login on the same base URL: the authorization page, the code exchange, the
// long-lived exchange and the refresh, with tokens that expire and can be revoked. It accepts exactly the requests crates/instagram builds (form-encoded POST
// bodies, `?fields=` on GETs, `Authorization: Bearer <token>`) and answers in the shapes its
// parsers read, with Meta's error codes and subcodes (../shared/notes/instagram-graph-api.md).
//
// It checks what Meta checks when a container is made: it downloads `image_url` itself and
// reads the JPEG's headers. Faults (errors, 429s, latency, hangs, an expired token, an
// exhausted quota, a publish whose answer is lost) are queued through `control` or the
// `/__control/...` endpoints; every Graph call is recorded, without the token.
//
// It has its own node:http server rather than server.mjs's startFakeServer: that one keeps
// raw request headers (the token would be recorded) and cannot answer after destroying the
// socket, which the lost-answer fault needs.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname } from "node:path";

export const DEFAULT_TOKEN = "local-simulator-token";
/** The Instagram professional account the simulator serves (the id in Meta's examples). */
export const DEFAULT_USER_ID = "17841405822304914";
export const DEFAULT_USERNAME = "local_simulator";
/** The Instagram app Instagram Login runs for: its id (Meta's example id) and its secret. */
export const DEFAULT_APP_ID = "990602627938098";
export const DEFAULT_APP_SECRET = "local-simulator-app-secret";
/** What a token made by Instagram Login may do, as its scope names it. */
export const DEFAULT_SCOPE = Object.freeze([
  "instagram_business_basic",
  "instagram_business_content_publish",
  "instagram_business_manage_comments",
]);
export const DEFAULT_API_VERSION = "v25.0";
export const DEFAULT_PORT = 8790;

/** Meta's limits for a single-image post (the notes' "Media and caption limits"). */
export const DEFAULT_LIMITS = Object.freeze({
  maxImageBytes: 8 * 1024 * 1024,
  minWidth: 320,
  maxWidth: 1440,
  maxCaptionChars: 2200,
  // The API reference's cap; Instagram's announced cap of 5 is configuration here too.
  maxHashtags: 30,
  maxMentions: 20,
  maxAltTextChars: 1000,
  // A carousel's children (Meta: 2 to 10), a post's collaborators (Meta's reference: 5), a
  // comment's length.
  minCarouselItems: 2,
  maxCarouselItems: 10,
  maxCollaborators: 5,
  maxCommentChars: 2200,
});

/**
 * The operations a fault can target: the publishing calls, the account read (`me`), and
 * Instagram Login: `authorize` (the page), `allow` (its Allow link, which makes the code),
 * `token` (POST /oauth/access_token), `exchange` (GET /access_token) and `refresh`.
 */
export const OPERATIONS = Object.freeze([
  "container",
  "status",
  "publish",
  "permalink",
  "limit",
  "media",
  "comment",
  "comments",
  "me",
  "authorize",
  "allow",
  "token",
  "exchange",
  "refresh",
  "any",
]);
const FAULT_KINDS = Object.freeze([
  "error",
  "raw",
  "rate_limit",
  "latency",
  "hang",
  "lost_answer",
  "token_expired",
  "quota_exhausted",
]);
/** Faults that hold for every call until cleared, rather than for the next N calls. */
const STICKY_KINDS = new Set(["token_expired", "quota_exhausted"]);
/** The calls whose effect a lost_answer fault keeps while their answer goes missing. */
const LOST_ANSWER_OPS = new Set(["publish", "comment"]);
const CONTAINER_STATUSES = new Set(["IN_PROGRESS", "FINISHED", "ERROR", "EXPIRED", "PUBLISHED"]);

const DAY_MS = 24 * 60 * 60 * 1000;
// Token ids: a new account's ids come after the default one's.
const ACCOUNT_ID_BASE = 17841400000000000n;
const MAX_REQUEST_BYTES = 1024 * 1024;
// Meta's ids are long digit strings; distinct ranges keep containers and media apart.
const CONTAINER_ID_BASE = 17889455560050000n;
const MEDIA_ID_BASE = 17920238422030000n;
const COMMENT_ID_BASE = 17858893269010000n;
const COMMENT_FIELDS = new Set(["id", "text", "username", "timestamp", "like_count"]);
const STATUS_TEXT = {
  IN_PROGRESS: "In Progress: Media is still being processed.",
  FINISHED: "Finished: Media has been uploaded and it is complete.",
  PUBLISHED: "Published: Media has been successfully published.",
  EXPIRED: "Expired: Media was not published within 24 hours.",
};
const CONTAINER_FIELDS = new Set(["id", "status_code", "status"]);
const ACCOUNT_FIELDS = new Set(["id", "user_id", "username", "name", "account_type"]);
const MEDIA_FIELDS = new Set([
  "id",
  "permalink",
  "caption",
  "alt_text",
  "media_type",
  "media_product_type",
  "media_url",
  "shortcode",
  "timestamp",
  "username",
]);
const TOKEN_MESSAGES = {
  458: "Error validating access token: The user has not authorized application.",
  459: "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.",
  460: "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
  467: "Error validating access token: The access token is invalid.",
};

/** Meta's error bodies, by what went wrong. Each gives the answer's status and `error` fields. */
const meta = {
  invalidToken: () => ({
    code: 190,
    message: "Invalid OAuth access token - Cannot parse access token",
    headers: { "www-authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"' },
  }),
  tokenOnlyInHeader: () => ({
    code: 190,
    message:
      "Invalid OAuth access token - the simulator reads the token only from the Authorization header, as crates/instagram sends it",
    headers: { "www-authenticate": 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"' },
  }),
  tokenExpired: (subcode, message) => ({
    code: 190,
    subcode,
    message: message ?? TOKEN_MESSAGES[subcode] ?? expiredMessage(),
    headers: { "www-authenticate": 'OAuth "Facebook Platform" "invalid_token" "Error validating access token"' },
  }),
  unknownPath: (path) => ({ code: 2500, message: `Unknown path components: ${path}` }),
  carouselItemAlone: (id) => ({
    code: 100,
    message: `(#100) The media ${id} is a carousel item: it is published only as a child of a CAROUSEL container`,
  }),
  badChild: (id, why) => ({
    code: 100,
    message: `(#100) Invalid parameter children: ${id} ${why}`,
  }),
  notOnChild: (name) => ({
    code: 100,
    message: `(#100) The parameter ${name} is not allowed on a carousel item; it goes on the CAROUSEL container`,
  }),
  tooManyCollaborators: (max) => ({
    code: 100,
    message: `(#100) Invalid parameter collaborators: at most ${max} collaborators are allowed`,
  }),
  unsupported: (method, id) => ({
    code: 100,
    subcode: 33,
    type: "GraphMethodException",
    message: `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
  }),
  noField: (field, nodeType) => ({
    code: 100,
    message: `(#100) Tried accessing nonexisting field (${field}) on node type (${nodeType})`,
  }),
  missingParam: (name) => ({ code: 100, message: `(#100) The parameter ${name} is required` }),
  badParam: (name, value) => ({ code: 100, message: `(#100) Invalid parameter ${name}: ${JSON.stringify(value)}` }),
  fetchFailed: (url) => ({
    code: 9004,
    subcode: 2207052,
    message: `The media could not be fetched from this uri: ${url}`,
    userTitle: "Media download has failed.",
    userMsg: "The media could not be fetched from this uri.",
  }),
  fetchTimedOut: () => ({
    code: -2,
    subcode: 2207003,
    isTransient: true,
    message: "It takes too long to download the media.",
    userTitle: "Timeout downloading media",
    userMsg: "It takes too long to download the media.",
  }),
  tooLarge: () => ({
    code: 36000,
    subcode: 2207004,
    message: "The image size is too large.",
    userTitle: "Image size too large",
    userMsg: "The image is too large to download. It should be less than 8 MiB.",
  }),
  // Meta documents no error for width (its reference says it rescales); crates/media refuses
  // such an image, so the simulator does too, with the image-size code and no subcode.
  badWidth: (width, limits) => ({
    code: 36000,
    message: `The image is ${width} px wide; the accepted width is ${limits.minWidth} to ${limits.maxWidth} px.`,
  }),
  badFormat: (what) => ({
    code: 36001,
    subcode: 2207005,
    message: "The image format is not supported.",
    userTitle: "Unsupported image format",
    userMsg: `The image format is not supported (${what}). Supported formats are: JPEG.`,
  }),
  badAspect: (width, height) => ({
    code: 36003,
    subcode: 2207009,
    message: `The submitted image with aspect ratio ('${ratioText(width, height)}') cannot be published. Please submit an image with a valid aspect ratio.`,
    userTitle: "Invalid aspect ratio",
    userMsg: "The aspect ratio is not supported.",
  }),
  captionTooLong: (what) => ({
    code: 36004,
    subcode: 2207010,
    message: "The caption was too long.",
    userTitle: "Caption too long",
    userMsg: `The caption exceeded the maximum 2,200 characters, 30 hashtags, or 20 @ tags (${what}).`,
  }),
  tooManyMentions: (max) => ({
    code: 100,
    subcode: 2207040,
    message: `Cannot use more than ${max} tags per created media.`,
    userTitle: "Too many tags",
  }),
  altTextTooLong: (max) => ({
    code: 100,
    message: `(#100) The parameter alt_text must be at most ${max} characters long.`,
  }),
  notReady: () => ({
    code: 9007,
    subcode: 2207027,
    message: "Media ID is not available",
    userTitle: "Media not ready for publishing",
    userMsg: "The media is not ready for publishing, please wait for a moment",
  }),
  // The notes do not say what Meta answers to a second media_publish of one container; this
  // is Meta's "Media ID is not available". crates/instagram reads it as not ready, so a client
  // that then reads the container status sees PUBLISHED: the proof the post went out. A test
  // wanting another answer queues an error fault for "publish".
  alreadyPublished: () => ({
    code: 9007,
    subcode: 2207027,
    message: "Media ID is not available",
    userTitle: "Media not ready for publishing",
    userMsg: "The media is not ready for publishing, please wait for a moment",
  }),
  expired: () => ({
    code: -2,
    subcode: 2207020,
    message: "The media you are trying to access has expired. Please try to upload again.",
  }),
  containerFailed: () => ({
    code: -1,
    subcode: 2207032,
    isTransient: true,
    message: "Create media fail, please try to re-create media",
  }),
  containerNotFound: (id) => ({
    code: 24,
    subcode: 2207006,
    message: `The media with id ${id} cannot be found.`,
    userTitle: "Media not found",
  }),
  quotaReached: () => ({
    code: 9,
    subcode: 2207042,
    isTransient: false,
    message: "Application request limit reached",
    userTitle: "Max posts per day reached",
    userMsg: "You have reached the maximum number of posts that is allowed to be published within 24 hours.",
  }),
  throttled: () => ({ code: 4, isTransient: true, message: "Application request limit reached" }),
  noPermission: () => ({ code: 10, message: "(#10) Application does not have permission for this action" }),
  badClientSecret: () => ({ code: 101, message: "Error validating client secret." }),
  notShortLived: () => ({ code: 100, message: "(#100) Only a short-lived access token can be exchanged for a long-lived one" }),
  notLongLived: () => ({ code: 100, message: "(#100) Only a long-lived access token can be refreshed" }),
  tooYoung: (hours) => ({
    code: 100,
    message: `(#100) The access token is ${hours} hours old; it can be refreshed once it is at least 24 hours old`,
  }),
  badGrantType: (value) => ({ code: 100, message: `(#100) Unsupported grant_type: ${JSON.stringify(value ?? "")}` }),
  serverError: () => ({
    code: 2,
    isTransient: true,
    message: "An unexpected error has occurred. Please retry your request later.",
  }),
};

/**
 * Starts the simulator on loopback. Options (all optional):
 * - `port` (0 = any free port), `host` ("127.0.0.1")
 * - `token`: the default account's access token (DEFAULT_TOKEN)
 * - `userId`, `username`: the default account, the first one (DEFAULT_USER_ID, "local_simulator")
 * - `accounts`: more accounts at start, each `{ username, userId?, quotaTotal?, token? }`, as
 *   `addAccount` takes them
 * - `appId`, `appSecret`: the Instagram app of Instagram Login (DEFAULT_APP_ID, DEFAULT_APP_SECRET)
 * - `redirectUris`: the redirect URIs registered for the app; `null` (default) accepts any
 * - `shortLivedSeconds` (3600), `longLivedSeconds` (5184000, 60 days), `codeTtlSeconds` (600),
 *   `refreshMinAgeSeconds` (86400): token and code lifetimes, and the age a token needs before
 *   it can be refreshed
 * - `apiVersion`: the path's version segment ("v25.0"); requests carry it or no version at
 *   all; `null` accepts any version
 * - `finishAfterMs`, `finishAfterReads`: a new container is IN_PROGRESS until both hold: that
 *   many ms have passed and that many status reads were answered (0 and 0: FINISHED at once)
 * - `publishedAfterMs`, `publishedAfterReads`: Meta is eventually consistent: a container
 *   published by media_publish still reads FINISHED until both hold: that many ms have passed
 *   since the call and that many status reads were answered since (0 and 0: PUBLISHED at once)
 * - `mediaPageSize` (25), `mediaPageMax` (100): the recent-media list's page without a
 *   `limit`, and the largest `limit` honoured
 * - `quotaTotal` (100), `quotaDurationSeconds` (86400): the publishing quota of each account
 *   without a quota of its own
 * - `containerTtlMs` (24 h): an unpublished container is EXPIRED after this
 * - `imageFetchTimeoutMs` (10000): a slower image download fails as Meta's does
 * - `limits`: overrides of DEFAULT_LIMITS
 * - `permalinkBase` ("https://graph-simulator.invalid/p/": a host that is never real, so a
 *   simulated post's link is not taken for Instagram's)
 * - `log`: a function given one line per call (method, path, operation, outcome; never a token)
 * - `persistPath`: a JSON file that keeps the accounts and tokens across restarts (for
 *   `scripts/dev`, whose D1 keeps the tokens it was given); none by default
 */
export async function startGraphSimulator(options = {}) {
  const token = options.token ?? DEFAULT_TOKEN;
  const userId = String(options.userId ?? DEFAULT_USER_ID);
  const apiVersion = options.apiVersion === undefined ? DEFAULT_API_VERSION : options.apiVersion;
  const log = typeof options.log === "function" ? options.log : null;
  const appId = String(options.appId ?? DEFAULT_APP_ID);
  const appSecret = String(options.appSecret ?? DEFAULT_APP_SECRET);
  const redirectUris = Array.isArray(options.redirectUris) ? options.redirectUris.map(String) : null;
  const initialConfig = () => ({
    finishAfterMs: options.finishAfterMs ?? 0,
    finishAfterReads: options.finishAfterReads ?? 0,
    publishedAfterMs: options.publishedAfterMs ?? 0,
    publishedAfterReads: options.publishedAfterReads ?? 0,
    mediaPageSize: options.mediaPageSize ?? 25,
    mediaPageMax: options.mediaPageMax ?? 100,
    quotaTotal: options.quotaTotal ?? 100,
    quotaDurationSeconds: options.quotaDurationSeconds ?? 86400,
    containerTtlMs: options.containerTtlMs ?? DAY_MS,
    imageFetchTimeoutMs: options.imageFetchTimeoutMs ?? 10_000,
    permalinkBase: options.permalinkBase ?? "https://graph-simulator.invalid/p/",
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    shortLivedSeconds: options.shortLivedSeconds ?? 3600,
    longLivedSeconds: options.longLivedSeconds ?? 5_184_000,
    codeTtlSeconds: options.codeTtlSeconds ?? 600,
    refreshMinAgeSeconds: options.refreshMinAgeSeconds ?? 86400,
  });

  let config = initialConfig();
  /** Every call (Graph and Instagram Login), oldest first; the same array for the simulator's whole life. */
  const calls = [];
  const containers = new Map();
  const media = new Map();
  /** Comments on published media, by id, oldest first. */
  const comments = new Map();
  /** The accounts, by user id, in the order they came; the default one first. */
  const accounts = new Map();
  /** Every token the simulator knows, by its value. */
  const tokens = new Map();
  /** Authorization codes made by the Allow link, by value. */
  const codes = new Map();
  /** Faults for the next calls, in the order queued. */
  const faults = [];
  /** Faults that hold until cleared, by kind and account ("token_expired:*" for every account). */
  const sticky = new Map();
  /** Answers held open by a hang, closed by reset or close. */
  const hung = new Set();
  const sockets = new Set();
  let sequence = 0;
  let faultSequence = 0;
  let accountSequence = 0n;
  // Simulated time: advancing it expires containers and tokens and frees the quota window.
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;

  // ---- accounts and tokens --------------------------------------------------------------

  /** A new token for an account: `kind` "short" or "long", issued now unless `issuedAt` says. */
  function issueToken(account, { kind = "long", value, issuedAt = now(), expiresInSeconds, origin = "issued", permissions } = {}) {
    const lifetime = expiresInSeconds ?? (kind === "short" ? config.shortLivedSeconds : config.longLivedSeconds);
    const record = {
      value: value ?? `IGAA${randomBytes(30).toString("base64url")}`,
      userId: account.userId,
      kind,
      origin,
      permissions: [...(permissions ?? DEFAULT_SCOPE)],
      issuedAt,
      expiresAt: issuedAt + lifetime * 1000,
      revoked: null,
    };
    if (tokens.has(record.value)) throw new Error("that token is already in use");
    tokens.set(record.value, record);
    return record;
  }

  /** Adds an account with a long-lived start token; `{ userId, username, token }`. */
  function addAccount(spec = {}) {
    if (!spec || typeof spec !== "object") throw new Error("an account is an object with a username");
    const username = String(spec.username ?? "");
    if (!/^[A-Za-z0-9._]{1,30}$/.test(username)) throw new Error("username is 1 to 30 letters, digits, '.' or '_'");
    let id = spec.userId === undefined ? null : String(spec.userId);
    if (id !== null && !/^\d{1,20}$/.test(id)) throw new Error("userId is a string of digits");
    if (id === null) {
      do {
        accountSequence += 1n;
        id = String(ACCOUNT_ID_BASE + accountSequence);
      } while (accounts.has(id));
    }
    if (accounts.has(id)) throw new Error(`an account ${id} exists already`);
    if ([...accounts.values()].some((account) => account.username === username)) throw new Error(`an account @${username} exists already`);
    if (spec.quotaTotal !== undefined && !(Number.isInteger(spec.quotaTotal) && spec.quotaTotal >= 0)) {
      throw new Error("quotaTotal is a whole number");
    }
    const account = { userId: id, username, quotaTotal: spec.quotaTotal ?? null, startToken: null };
    accounts.set(id, account);
    try {
      account.startToken = issueToken(account, { value: spec.token, origin: "start" }).value;
    } catch (error) {
      accounts.delete(id);
      throw error;
    }
    return { userId: id, username, token: account.startToken };
  }

  /** Every account's start token as new: issued now, not revoked; other tokens and codes gone. */
  function resetTokens() {
    tokens.clear();
    codes.clear();
    for (const account of accounts.values()) issueToken(account, { value: account.startToken, origin: "start" });
  }

  /** A short, stable reference to a token for records and state: never the token itself. */
  function tokenRef(value) {
    return createHash("sha256").update(String(value)).digest("hex").slice(0, 12);
  }

  function tokenView(record) {
    return {
      ref: tokenRef(record.value),
      userId: record.userId,
      kind: record.kind,
      origin: record.origin,
      permissions: [...record.permissions],
      issuedAt: record.issuedAt,
      expiresAt: record.expiresAt,
      ageSeconds: Math.floor((now() - record.issuedAt) / 1000),
      expiresInSeconds: Math.ceil((record.expiresAt - now()) / 1000),
      expired: now() >= record.expiresAt,
      revoked: record.revoked ? { subcode: record.revoked.subcode } : null,
    };
  }

  /** The tokens a control call names: a token's value, `{token}`, `{ref}` or `{userId}` (all of that account's). */
  function selectTokens(selector) {
    if (typeof selector === "string") selector = { token: selector };
    if (!selector || typeof selector !== "object") throw new Error("name a token: its value, {token}, {ref} or {userId}");
    let found;
    if (selector.token !== undefined) found = tokens.has(String(selector.token)) ? [tokens.get(String(selector.token))] : [];
    else if (selector.ref !== undefined) found = [...tokens.values()].filter((record) => tokenRef(record.value) === String(selector.ref));
    else if (selector.userId !== undefined) found = [...tokens.values()].filter((record) => record.userId === String(selector.userId));
    else throw new Error("name a token: its value, {token}, {ref} or {userId}");
    if (found.length === 0) throw new Error("no such token");
    return found;
  }

  /** Why a token is refused (Meta's 190 body), or null when it is good now. */
  function tokenProblem(record) {
    if (!record) return meta.invalidToken();
    if (record.revoked) return meta.tokenExpired(record.revoked.subcode, record.revoked.message);
    if (now() >= record.expiresAt) return meta.tokenExpired(463, expiredMessage(record.expiresAt, now()));
    return null;
  }

  function quotaTotalOf(account) {
    return account?.quotaTotal ?? config.quotaTotal;
  }

  // ---- state ----------------------------------------------------------------------------

  /**
   * A container's status now; `read` counts it as a status read (which can finish it, or
   * make its publication visible).
   */
  function statusOf(container, { read = false } = {}) {
    let status;
    if (container.forced) status = container.forced.status_code;
    else if (container.mediaId) status = publishedVisible(container, read) ? "PUBLISHED" : "FINISHED";
    else if (now() - container.createdAt >= config.containerTtlMs) status = "EXPIRED";
    else if (container.finished) status = "FINISHED";
    else if (now() >= container.finishAt && container.statusReads >= container.readsNeeded) {
      // Once finished it stays finished, whatever later reads or config changes do.
      container.finished = true;
      status = "FINISHED";
    } else status = "IN_PROGRESS";
    if (read) container.statusReads += 1;
    return status;
  }

  /**
   * Whether a published container reads PUBLISHED yet: until `publishedAfterMs` passed and
   * `publishedAfterReads` status reads were answered since media_publish, it reads FINISHED,
   * as Meta's status can lag its publish. Once visible it stays so.
   */
  function publishedVisible(container, read) {
    if (container.publishVisible) return true;
    if (now() >= container.visibleAt && container.readsSincePublish >= container.visibleAfterReads) {
      container.publishVisible = true;
      return true;
    }
    if (read) container.readsSincePublish += 1;
    return false;
  }

  function statusText(container, status) {
    if (status === "ERROR") {
      const { subcode, detail } = container.forced ?? {};
      return detail ?? `Error: Media upload has failed with error code ${subcode ?? 2207001}`;
    }
    return container.forced?.detail ?? STATUS_TEXT[status];
  }

  /** The sticky fault of `kind` that holds for `account` (its own first, then one for every account). */
  function stickyFor(kind, account) {
    return (account && sticky.get(`${kind}:${account}`)) || sticky.get(`${kind}:*`) || null;
  }

  /** An account's posts in the rolling window (its total while a quota_exhausted fault holds). */
  function quotaUsage(account = userId) {
    if (stickyFor("quota_exhausted", account)) return quotaTotalOf(accounts.get(account));
    const since = now() - config.quotaDurationSeconds * 1000;
    return [...media.values()].filter((item) => item.userId === account && item.publishedAt > since).length;
  }

  function quotaView(account = userId) {
    return { usage: quotaUsage(account), total: quotaTotalOf(accounts.get(account)), durationSeconds: config.quotaDurationSeconds };
  }

  function accountView(account) {
    return {
      userId: account.userId,
      username: account.username,
      quota: quotaView(account.userId),
      media: [...media.values()].filter((item) => item.userId === account.userId).length,
    };
  }

  function containerView(container) {
    const { finishAt, readsNeeded, finished, forced, visibleAt, visibleAfterReads, readsSincePublish, publishCallSeqs, publishedBySeq, ...rest } =
      container;
    return structuredClone({
      ...rest,
      status_code: statusOf(container),
      statusForced: Boolean(forced),
      ...publishCounts(container),
    });
  }

  /**
   * How often media_publish named the container: `publishCalls` in all (whatever was
   * answered, faults included), `published` (0 or 1), and `doubleAttempts`: calls received
   * after the call that published it, each one a second try at a live post.
   */
  function publishCounts(container) {
    const seqs = container.publishCallSeqs;
    return {
      publishCalls: seqs.length,
      published: container.mediaId ? 1 : 0,
      doubleAttempts: container.publishedBySeq === null ? 0 : seqs.filter((seq) => seq > container.publishedBySeq).length,
    };
  }

  /** A container's image URL; a carousel parent's is its first child's. */
  function imageUrlOf(container) {
    return container.imageUrl ?? containers.get(container.children?.[0] ?? "")?.imageUrl ?? "";
  }

  /** The image URLs a container carries: its own, or its children's. */
  function imageUrlsOf(container) {
    if (!container.children) return [container.imageUrl ?? ""];
    return container.children.map((id) => containers.get(id)?.imageUrl ?? "");
  }

  function mediaView(item) {
    return structuredClone(item);
  }

  function snapshot() {
    return {
      userId,
      apiVersion,
      config: structuredClone(config),
      clockOffsetMs,
      containers: [...containers.values()].map(containerView),
      media: [...media.values()].map(mediaView),
      comments: [...comments.values()].map((comment) => structuredClone(comment)),
      doubleAttempts: state.doubleAttempts(),
      quota: quotaView(),
      accounts: [...accounts.values()].map(accountView),
      tokens: [...tokens.values()].map(tokenView),
      app: { appId, redirectUris },
      faults: structuredClone(faults),
      sticky: structuredClone([...sticky.values()]),
      calls: calls.length,
    };
  }

  // ---- faults ---------------------------------------------------------------------------

  /** Checks one fault spec and turns it into a queued fault; throws on a malformed spec. */
  function normalizeFault(spec) {
    if (!spec || typeof spec !== "object" || Array.isArray(spec)) throw new Error("a fault is a JSON object");
    // `kind` may be left out only for an error, recognisable by its code.
    const kind = spec.kind ?? (Number.isInteger(spec.code) ? "error" : undefined);
    if (!FAULT_KINDS.includes(kind)) throw new Error(`unknown fault kind ${JSON.stringify(kind)}; one of ${FAULT_KINDS.join(", ")}`);
    const op = spec.op ?? (kind === "lost_answer" ? "publish" : "any");
    if (!OPERATIONS.includes(op)) throw new Error(`unknown op ${JSON.stringify(op)}; one of ${OPERATIONS.join(", ")}`);
    if (kind === "lost_answer" && !LOST_ANSWER_OPS.has(op)) throw new Error("lost_answer applies to op publish or comment only");
    if (kind === "lost_answer" && !["destroy", "500", "hang"].includes(String(spec.mode ?? "destroy"))) {
      throw new Error("lost_answer mode is destroy, 500 or hang");
    }
    const times = spec.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error("times is a positive integer");
    if (spec.delayMs !== undefined && !(Number.isFinite(spec.delayMs) && spec.delayMs >= 0)) {
      throw new Error("delayMs is a number of milliseconds");
    }
    if (kind === "error" && !Number.isInteger(spec.code)) throw new Error("an error fault needs an integer code");
    if (spec.match !== undefined && (typeof spec.match !== "string" || spec.match === "")) {
      throw new Error("match is a non-empty string, part of the image URL or caption of the call's post");
    }
    if (spec.match !== undefined && STICKY_KINDS.has(kind)) throw new Error(`a ${kind} fault holds for every call; it takes no match`);
    if (spec.skip !== undefined && !(Number.isInteger(spec.skip) && spec.skip >= 0)) throw new Error("skip is a whole number of calls");
    if (spec.account !== undefined && !accounts.has(String(spec.account))) {
      throw new Error(`account is the user id of one of the simulator's accounts, not ${JSON.stringify(spec.account)}`);
    }
    const fault = { ...spec, kind, op, id: ++faultSequence };
    if (spec.account !== undefined) fault.account = String(spec.account);
    if (STICKY_KINDS.has(kind)) {
      delete fault.times;
      if (kind === "token_expired") fault.subcode = spec.subcode ?? 463;
    } else {
      fault.times = times;
    }
    return fault;
  }

  function addFaults(specs) {
    const list = (Array.isArray(specs) ? specs : [specs]).map(normalizeFault);
    for (const fault of list) {
      if (STICKY_KINDS.has(fault.kind)) sticky.set(`${fault.kind}:${fault.account ?? "*"}`, fault);
      else faults.push(fault);
    }
    return structuredClone(list);
  }

  function clearFaults(kind) {
    if (kind) {
      for (const [key, fault] of sticky) if (fault.kind === kind) sticky.delete(key);
      for (let i = faults.length - 1; i >= 0; i -= 1) if (faults[i].kind === kind) faults.splice(i, 1);
    } else {
      faults.length = 0;
      sticky.clear();
    }
  }

  /**
   * What a call is about, for faults with `match`: the image URL and caption of the container
   * it makes, reads or publishes, or of the media whose permalink it reads. Lists and the
   * quota are about no one post.
   */
  function subjectOf(target, params) {
    if (target.op === "container") return { texts: [params.image_url ?? "", params.caption ?? ""] };
    if (target.op === "comment" || target.op === "comments") {
      const post = media.get(target.node);
      const own = post && containers.get(post.containerId);
      return { texts: post ? [...(own ? imageUrlsOf(own) : [post.imageUrl ?? ""]), post.caption ?? ""] : [] };
    }
    let item;
    if (target.op === "publish") item = containers.get(String(params.creation_id ?? ""));
    else if (target.op === "status" || target.op === "permalink") item = containers.get(target.node) ?? media.get(target.node);
    if (!item) return { texts: [] };
    const own = containers.get(item.id) ?? containers.get(item.containerId ?? "");
    const urls = own ? imageUrlsOf(own) : [item.imageUrl ?? ""];
    return { texts: [...urls, item.caption ?? ""], container: containers.get(item.id) };
  }

  /**
   * Takes one use of the first queued fault for `op` whose `match` (if any) is part of one
   * of the call's subject `texts` and whose `account` (if any) is the call's.
   */
  function takeFault(op, texts = [], account = null) {
    const index = faults.findIndex((fault) => {
      if (fault.op !== "any" && fault.op !== op) return false;
      if (fault.account !== undefined && fault.account !== account) return false;
      if (fault.match !== undefined && !texts.some((text) => text.includes(fault.match))) return false;
      if (fault.skip > 0) {
        // This call passes it by (and may meet a fault queued after it).
        fault.skip -= 1;
        return false;
      }
      return true;
    });
    if (index < 0) return null;
    const fault = faults[index];
    fault.times -= 1;
    if (fault.times === 0) faults.splice(index, 1);
    return fault;
  }

  // ---- control --------------------------------------------------------------------------

  function setContainerStatus(id, statusCode, { subcode, detail } = {}) {
    const container = containers.get(String(id));
    if (!container) throw new Error(`no container ${id}`);
    if (statusCode === null || statusCode === undefined) {
      container.forced = null;
      return containerView(container);
    }
    if (!CONTAINER_STATUSES.has(statusCode)) throw new Error(`unknown status_code ${statusCode}`);
    container.forced = { status_code: statusCode, subcode, detail };
    return containerView(container);
  }

  function configure(changes = {}) {
    const { limits, ...rest } = changes;
    for (const key of Object.keys(rest)) {
      if (!(key in config) || key === "limits") throw new Error(`unknown setting ${key}`);
    }
    config = { ...config, ...rest, limits: { ...config.limits, ...limits } };
    return structuredClone(config);
  }

  function reset() {
    for (const res of hung) res.destroy();
    hung.clear();
    calls.length = 0;
    containers.clear();
    media.clear();
    comments.clear();
    faults.length = 0;
    sticky.clear();
    sequence = 0;
    clockOffsetMs = 0;
    config = initialConfig();
    for (const account of accounts.values()) account.quotaTotal = account.startQuotaTotal;
    resetTokens();
  }

  function accountOrThrow(id) {
    const account = accounts.get(String(id));
    if (!account) throw new Error(`no account ${id}`);
    return account;
  }

  function wholeSeconds(value, name) {
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} is a number of seconds, 0 or more`);
    return value;
  }

  const tokenControls = {
    /** A new token for the account: `{kind: "long"|"short", ageSeconds, expiresInSeconds, permissions}`; its value. */
    issueToken(id, { kind = "long", ageSeconds = 0, expiresInSeconds, permissions } = {}) {
      const account = accountOrThrow(id);
      if (kind !== "long" && kind !== "short") throw new Error('kind is "long" or "short"');
      const issuedAt = now() - wholeSeconds(ageSeconds, "ageSeconds") * 1000;
      const lifetime = expiresInSeconds === undefined ? undefined : ageSeconds + wholeSeconds(expiresInSeconds, "expiresInSeconds");
      return issueToken(account, { kind, issuedAt, expiresInSeconds: lifetime, origin: "issued", permissions }).value;
    },
    /** Revokes tokens (a value, `{token}`, `{ref}` or `{userId}`): 190 with `subcode` (460, "password changed") from now on. */
    revoke(selector, { subcode = 460, message } = {}) {
      if (!Number.isInteger(subcode)) throw new Error("subcode is an integer");
      return selectTokens(selector).map((record) => {
        record.revoked = { subcode, message };
        return tokenView(record);
      });
    },
    /** Expires tokens now: 190/463 from now on. */
    expire(selector) {
      return selectTokens(selector).map((record) => {
        record.expiresAt = Math.min(record.expiresAt, now());
        return tokenView(record);
      });
    },
    /**
     * Makes tokens `seconds` old: issued that long ago, expiring as long after as their lifetime
     * says, or in `expiresInSeconds` from now when given.
     */
    setTokenAge(selector, seconds, { expiresInSeconds } = {}) {
      wholeSeconds(seconds, "seconds");
      return selectTokens(selector).map((record) => {
        const lifetime = record.expiresAt - record.issuedAt;
        record.issuedAt = now() - seconds * 1000;
        record.expiresAt = expiresInSeconds === undefined ? record.issuedAt + lifetime : now() + wholeSeconds(expiresInSeconds, "expiresInSeconds") * 1000;
        return tokenView(record);
      });
    },
    /** Makes tokens expire `expiresInSeconds` from now (0: now). */
    setTokenExpiry(selector, expiresInSeconds) {
      wholeSeconds(expiresInSeconds, "expiresInSeconds");
      return selectTokens(selector).map((record) => {
        record.expiresAt = now() + expiresInSeconds * 1000;
        return tokenView(record);
      });
    },
    /** An account's own publishing quota (`null`: the simulator's `quotaTotal` again). */
    setAccountQuota(id, quotaTotal) {
      const account = accountOrThrow(id);
      if (quotaTotal !== null && !(Number.isInteger(quotaTotal) && quotaTotal >= 0)) throw new Error("quotaTotal is a whole number or null");
      account.quotaTotal = quotaTotal;
      return accountView(account);
    },
  };

  /** Adds an account (see `addAccount`); reset keeps it, with its start token as new. */
  function addAccountKept(spec) {
    const added = addAccount(spec);
    const account = accounts.get(added.userId);
    account.startQuotaTotal = account.quotaTotal;
    persist();
    return added;
  }

  // ---- persistence (persistPath) --------------------------------------------------------

  const persistPath = options.persistPath ?? null;
  // Nothing is written before what the file held was read back.
  let restored = false;

  /** Writes the accounts and tokens to `persistPath` (whole, then renamed into place). */
  function persist() {
    if (!persistPath || !restored) return;
    const data = {
      accounts: [...accounts.values()].map(({ userId: id, username, quotaTotal, startToken }) => ({ userId: id, username, quotaTotal, startToken })),
      tokens: [...tokens.values()],
    };
    mkdirSync(dirname(persistPath), { recursive: true });
    writeFileSync(`${persistPath}.tmp`, JSON.stringify(data), { mode: 0o600 });
    renameSync(`${persistPath}.tmp`, persistPath);
  }

  /** Restores what `persist` wrote: accounts not there yet, and every token it knew. */
  function restore() {
    if (!persistPath || !existsSync(persistPath)) return;
    const data = JSON.parse(readFileSync(persistPath, "utf8"));
    for (const saved of data.accounts ?? []) {
      if (accounts.has(saved.userId)) continue;
      if ([...accounts.values()].some((account) => account.username === saved.username)) continue;
      const account = { userId: saved.userId, username: saved.username, quotaTotal: saved.quotaTotal ?? null, startToken: saved.startToken };
      account.startQuotaTotal = account.quotaTotal;
      accounts.set(account.userId, account);
    }
    for (const record of data.tokens ?? []) {
      if (accounts.has(record.userId) && !tokens.has(record.value)) tokens.set(record.value, record);
    }
  }

  const control = {
    /** Queues one fault or a list (see tests/fakes/README.md); returns them as queued. */
    fault: (specs) => addFaults(specs),
    /** Drops queued and sticky faults, or only those of `kind`. */
    clearFaults: (kind) => clearFaults(kind),
    /** Forces a container's status_code (ERROR, EXPIRED, ...); `null` lifts it. */
    setContainerStatus,
    /** Moves the simulated clock forward (expiry, quota window, finishAfterMs). */
    advanceClock(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new Error("advanceMs is a number of milliseconds");
      clockOffsetMs += ms;
      return clockOffsetMs;
    },
    /** Changes settings for what comes next (finishAfterMs, quotaTotal, limits, ...). */
    configure,
    /**
     * Back to the state at start: no calls, containers, media, faults; clock and settings reset;
     * the accounts stay, each with only its start token, as new, and no codes.
     */
    reset,
    addAccount: addAccountKept,
    ...tokenControls,
  };

  const state = {
    containers: () => [...containers.values()].map(containerView),
    container: (id) => (containers.has(String(id)) ? containerView(containers.get(String(id))) : undefined),
    /** Every published media, oldest first; with a user id, only that account's. */
    media: (account) => [...media.values()].filter((item) => account === undefined || item.userId === String(account)).map(mediaView),
    /**
     * media_publish calls per container that any named: `{containerId, imageUrl, caption,
     * publishCalls, published, doubleAttempts}`, oldest container first.
     */
    publishCounts: () =>
      [...containers.values()]
        .filter((container) => container.publishCallSeqs.length > 0)
        .map((container) => ({ containerId: container.id, imageUrl: imageUrlOf(container), caption: container.caption, ...publishCounts(container) })),
    /** Every media_publish received after its container was published: each a double. */
    doubleAttempts: () => [...containers.values()].reduce((sum, container) => sum + publishCounts(container).doubleAttempts, 0),
    /** The default account's quota, or the named account's. */
    quota: (account) => quotaView(account === undefined ? userId : String(account)),
    /** `{userId, username, quota, media}` of every account, the default one first (no tokens). */
    accounts: () => [...accounts.values()].map(accountView),
    /** Every token (or one account's) as `{ref, userId, kind, origin, issuedAt, expiresAt, ...}`: never its value. */
    tokens: (account) => [...tokens.values()].filter((record) => account === undefined || record.userId === String(account)).map(tokenView),
    /** What the simulator knows of one token, by its value; undefined when it never made it. */
    token: (value) => (tokens.has(String(value)) ? tokenView(tokens.get(String(value))) : undefined),
    /** The reference calls and state name a token by (a hash prefix, not the token). */
    tokenRef,
    faults: () => structuredClone({ queued: faults, sticky: [...sticky.values()] }),
    /** Every comment `{id, mediaId, userId, username, text, timestamp}`, oldest first; with a media id, that post's. */
    comments: (mediaId) =>
      [...comments.values()].filter((comment) => mediaId === undefined || comment.mediaId === String(mediaId)).map((comment) => structuredClone(comment)),
    snapshot,
  };

  async function handleControl(req, res, url) {
    const path = url.pathname.slice("/__control".length);
    const body = await readBody(req);
    let input = {};
    if (body.text.trim()) {
      try {
        input = JSON.parse(body.text);
      } catch {
        return sendJson(res, 400, { error: { message: "the control body is not JSON" } });
      }
    }
    try {
      if (req.method === "POST" && path === "/faults") return sendJson(res, 200, { added: addFaults(input), ...state.faults() });
      if (req.method === "DELETE" && path === "/faults") {
        clearFaults(url.searchParams.get("kind") ?? undefined);
        return sendJson(res, 200, state.faults());
      }
      if (req.method === "POST" && path === "/reset") {
        reset();
        return sendJson(res, 200, { reset: true });
      }
      if (req.method === "GET" && path === "/calls") {
        const op = url.searchParams.get("op");
        return sendJson(res, 200, { calls: op ? calls.filter((call) => call.op === op) : calls });
      }
      if (req.method === "GET" && path === "/state") return sendJson(res, 200, snapshot());
      if (req.method === "GET" && path === "/comments") {
        return sendJson(res, 200, { comments: state.comments(url.searchParams.get("mediaId") ?? undefined) });
      }
      if (req.method === "POST" && path === "/config") return sendJson(res, 200, { config: configure(input) });
      if (req.method === "POST" && path === "/clock") {
        return sendJson(res, 200, { clockOffsetMs: control.advanceClock(input.advanceMs) });
      }
      const container = path.match(/^\/containers\/([^/]+)$/);
      if (req.method === "POST" && container) {
        const id = decodeURIComponent(container[1]);
        return sendJson(res, 200, { container: setContainerStatus(id, input.status_code, input) });
      }
      if (req.method === "GET" && path === "/accounts") return sendJson(res, 200, { accounts: state.accounts() });
      if (req.method === "POST" && path === "/accounts") return sendJson(res, 200, { account: control.addAccount(input) });
      const account = path.match(/^\/accounts\/(\d+)$/);
      if (req.method === "POST" && account) {
        return sendJson(res, 200, { account: control.setAccountQuota(account[1], input.quotaTotal ?? null) });
      }
      if (req.method === "GET" && path === "/tokens") {
        return sendJson(res, 200, { tokens: state.tokens(url.searchParams.get("userId") ?? undefined) });
      }
      const tokenAction = path.match(/^\/tokens\/(issue|revoke|expire|age|expiry)$/);
      if (req.method === "POST" && tokenAction) {
        const selector = {};
        for (const key of ["token", "ref", "userId"]) if (input[key] !== undefined) selector[key] = input[key];
        switch (tokenAction[1]) {
          case "issue": {
            const value = control.issueToken(input.userId, input);
            return sendJson(res, 200, { token: value, info: state.token(value) });
          }
          case "revoke":
            return sendJson(res, 200, { tokens: control.revoke(selector, input) });
          case "expire":
            return sendJson(res, 200, { tokens: control.expire(selector) });
          case "age":
            return sendJson(res, 200, { tokens: control.setTokenAge(selector, input.seconds, input) });
          case "expiry":
            return sendJson(res, 200, { tokens: control.setTokenExpiry(selector, input.expiresInSeconds) });
        }
      }
    } catch (error) {
      return sendJson(res, 400, { error: { message: error.message } });
    }
    return sendJson(res, 404, { error: { message: `no control endpoint ${req.method} ${url.pathname}` } });
  }

  // ---- the Graph API --------------------------------------------------------------------

  /** Works out which operation a request is, before anything is checked, so faults can match. */
  function route(method, segments, params) {
    const [node, edge, ...extra] = segments;
    // Instagram Login and token renewal, on the same base URL as the Graph API.
    if (node === "oauth" && edge === "authorize" && method === "GET") {
      if (extra.length === 0) return { op: "authorize" };
      if (extra.length === 1 && extra[0] === "allow") return { op: "allow" };
    }
    if (node === "oauth" && edge === "access_token" && extra.length === 0 && method === "POST") return { op: "token" };
    if (node === "access_token" && edge === undefined && method === "GET") return { op: "exchange" };
    if (node === "refresh_access_token" && edge === undefined && method === "GET") return { op: "refresh" };
    if (extra.length > 0 || node === undefined || node === "") return { op: null };
    if (edge === undefined) {
      if (method !== "GET") return { op: null };
      const fields = fieldList(params.fields);
      if (node === "me" || accounts.has(node)) return { op: "me", node, fields };
      return { op: fields.includes("permalink") || media.has(node) ? "permalink" : "status", node, fields };
    }
    if (method === "POST" && edge === "media") return { op: "container", node };
    if (method === "POST" && edge === "comments") return { op: "comment", node };
    if (method === "GET" && edge === "comments") return { op: "comments", node, fields: fieldList(params.fields) };
    if (method === "POST" && edge === "media_publish") return { op: "publish", node };
    if (method === "GET" && edge === "content_publishing_limit") return { op: "limit", node, fields: fieldList(params.fields) };
    if (method === "GET" && edge === "media") return { op: "media", node, fields: fieldList(params.fields) };
    return { op: null, node };
  }

  /**
   * The account a call is about, for faults with `account` and the record: its token's
   * account, else the account its path names, the code it exchanges or the account it allows.
   */
  function accountOfCall(target, params, record) {
    if (record) return record.userId;
    if (target.node && accounts.has(target.node)) return target.node;
    if (target.op === "token") return codes.get(String(params.code ?? ""))?.userId ?? null;
    if (target.op === "allow" && accounts.has(String(params.user_id ?? ""))) return String(params.user_id);
    return null;
  }

  async function answerGraph(req, call, target, params, pathText, auth) {
    if (target.versionMismatch) return graphError(meta.unknownPath(pathText));
    switch (target.op) {
      case "authorize":
        return authorizePage(params);
      case "allow":
        return allow(call, params);
      case "token":
        return exchangeCode(call, params);
    }
    const refused = checkAuth(call, auth, TOKEN_PARAM_OPS.has(target.op));
    if (refused) return refused;
    const own = auth.record.userId;
    const { op, node } = target;
    switch (op) {
      case "exchange":
        return exchangeToken(call, params, auth.record);
      case "refresh":
        return refreshToken(call, params, auth.record);
      case "me":
        return readAccount(req, node === "me" ? own : node, own, target.fields);
    }
    if (op === null) {
      if (node && !accounts.has(node) && !containers.has(node) && !media.has(node)) {
        return graphError(meta.unsupported(req.method, node));
      }
      return graphError(meta.unknownPath(pathText));
    }
    // Another account's objects are, to this token, objects that do not exist (100/33).
    if (["container", "publish", "limit", "media"].includes(op) && node !== own) {
      return graphError(meta.unsupported(req.method, node));
    }
    if ((op === "container" || op === "publish") && !auth.record.permissions.includes("instagram_business_content_publish")) {
      return graphError(meta.noPermission());
    }
    if (op === "comment" || op === "comments") {
      const item = media.get(node);
      if (!item || item.userId !== own) return graphError(meta.unsupported(req.method, node));
      if (!auth.record.permissions.includes("instagram_business_manage_comments")) return graphError(meta.noPermission());
      return op === "comment" ? postComment(params, item, own) : listComments(target.fields, item);
    }
    switch (op) {
      case "container":
        return createContainer(call, params, own);
      case "publish":
        return publish(call, params, own);
      case "status":
      case "permalink":
        return readNode(node, target.fields, own);
      case "limit":
        return publishingLimit(target.fields, own);
      case "media":
        return listMedia(target.fields, params, pathText, own);
    }
    return graphError(meta.unknownPath(pathText));
  }

  /** Null when the call's token is good now; Meta's 190 answer otherwise. */
  function checkAuth(call, auth, paramAllowed) {
    const expired = stickyFor("token_expired", call.account);
    if (expired) return graphError(meta.tokenExpired(expired.subcode, expired.message));
    // Meta would accept the token as a parameter too; crates/instagram never sends it there.
    if (!paramAllowed && auth.header === null && (call.tokenInQuery || call.tokenInBody)) return graphError(meta.tokenOnlyInHeader());
    const problem = tokenProblem(auth.record);
    call.auth.valid = problem === null;
    return problem === null ? null : graphError(problem);
  }

  // ---- Instagram Login ------------------------------------------------------------------

  /**
   * What is wrong with an authorization request (`client_id`, `redirect_uri`,
   * `response_type`, `scope`), as the text of Meta's error page; null when nothing is.
   */
  function authorizeProblem(params) {
    if (String(params.client_id ?? "") !== appId) return "Invalid Request: Request parameters are invalid: Invalid platform app";
    let redirect;
    try {
      redirect = new URL(String(params.redirect_uri ?? ""));
    } catch {
      return "Invalid Request: Request parameters are invalid: Invalid redirect_uri";
    }
    if (!["http:", "https:"].includes(redirect.protocol) || (redirectUris && !redirectUris.includes(String(params.redirect_uri)))) {
      return "Invalid Request: Request parameters are invalid: Invalid redirect_uri";
    }
    if (params.response_type !== "code") return "Invalid Request: Request parameters are invalid: response_type must be code";
    if (!scopeOf(params.scope).includes("instagram_business_basic")) {
      return "Invalid Request: Request parameters are invalid: Invalid scope field(s): instagram_business_basic is required";
    }
    return null;
  }

  /** The authorization page: each account with an Allow link, and Cancel. */
  function authorizePage(params) {
    const problem = authorizeProblem(params);
    if (problem) return htmlAnswer(400, "Error", `<p class="error">${escapeHtml(problem)}</p>`);
    const carried = { client_id: params.client_id, redirect_uri: params.redirect_uri, response_type: "code", scope: params.scope };
    if (params.state !== undefined) carried.state = params.state;
    const link = (extra) => `/oauth/authorize/allow?${new URLSearchParams({ ...carried, ...extra })}`;
    const items = [...accounts.values()]
      .map(
        (account) =>
          `<li data-user-id="${account.userId}" data-username="${escapeHtml(account.username)}"><span class="username">@${escapeHtml(account.username)}</span> ` +
          `<a class="allow" role="button" href="${escapeHtml(link({ user_id: account.userId }))}">Allow</a></li>`,
      )
      .join("\n");
    const scope = scopeOf(params.scope).map((name) => `<li>${escapeHtml(name)}</li>`).join("");
    return htmlAnswer(
      200,
      "Log in with Instagram",
      `<p>An app (${escapeHtml(appId)}) asks to use your Instagram professional account:</p>\n<ul class="scope">${scope}</ul>\n` +
        `<p>Choose the account:</p>\n<ul class="accounts">\n${items}\n</ul>\n` +
        `<p><a class="cancel" href="${escapeHtml(link({ decision: "cancel" }))}">Cancel</a></p>`,
    );
  }

  /** The Allow (or Cancel) link: a code bound to the app and the redirect URI, back to the app. */
  function allow(call, params) {
    const problem = authorizeProblem(params);
    if (problem) return htmlAnswer(400, "Error", `<p class="error">${escapeHtml(problem)}</p>`);
    const target = new URL(String(params.redirect_uri));
    if (params.decision === "cancel") {
      target.searchParams.set("error", "access_denied");
      target.searchParams.set("error_reason", "user_denied");
      target.searchParams.set("error_description", "The user denied your request.");
    } else {
      const account = accounts.get(String(params.user_id ?? ""));
      if (!account) return htmlAnswer(400, "Error", '<p class="error">Invalid Request: no such account</p>');
      const code = `AQ${randomBytes(48).toString("base64url")}`;
      codes.set(code, {
        userId: account.userId,
        clientId: appId,
        redirectUri: String(params.redirect_uri),
        scope: scopeOf(params.scope),
        expiresAt: now() + config.codeTtlSeconds * 1000,
        used: false,
      });
      call.account = account.userId;
      target.searchParams.set("code", code);
    }
    if (params.state !== undefined) target.searchParams.set("state", String(params.state));
    // Meta appends `#_` to the redirect; a browser never sends the fragment on.
    target.hash = "_";
    return { status: 302, body: "", headers: { location: target.href, "content-type": "text/html; charset=utf-8" } };
  }

  /** POST /oauth/access_token: a code for a short-lived token, errors in api.instagram.com's shape. */
  function exchangeCode(call, params) {
    if (String(params.client_id ?? "") !== appId) return oauthError("Invalid platform app");
    if (String(params.client_secret ?? "") !== appSecret) return oauthError("Error validating client secret.");
    if (params.grant_type !== "authorization_code") return oauthError(`Unsupported grant_type: ${params.grant_type ?? ""}`);
    if (!params.code) return oauthError("Missing required field: code");
    const code = codes.get(String(params.code));
    if (!code) return oauthError("Invalid authorization code");
    if (code.used) return oauthError("This authorization code has been used");
    // Single use: a code presented by the app is spent, whatever follows.
    code.used = true;
    if (now() >= code.expiresAt) return oauthError("This authorization code has expired");
    if (String(params.redirect_uri ?? "") !== code.redirectUri) {
      return oauthError("Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request");
    }
    const account = accounts.get(code.userId);
    const record = issueToken(account, { kind: "short", origin: "code", permissions: code.scope });
    call.account = account.userId;
    call.issuedTokenRef = tokenRef(record.value);
    // Meta's user_id here is a JSON number, not a string: 17 digits do not fit a double.
    const body = `{"access_token":${JSON.stringify(record.value)},"user_id":${account.userId},"permissions":${JSON.stringify(record.permissions.join(","))}}`;
    return { status: 200, body };
  }

  /** GET /access_token?grant_type=ig_exchange_token: a short-lived token for a long-lived one. */
  function exchangeToken(call, params, record) {
    if (params.grant_type !== "ig_exchange_token") return graphError(meta.badGrantType(params.grant_type));
    if (String(params.client_secret ?? "") !== appSecret) return graphError(meta.badClientSecret());
    if (record.kind !== "short") return graphError(meta.notShortLived());
    const issued = issueToken(accounts.get(record.userId), { kind: "long", origin: "exchange", permissions: record.permissions });
    call.issuedTokenRef = tokenRef(issued.value);
    return ok({ access_token: issued.value, token_type: "bearer", expires_in: config.longLivedSeconds });
  }

  /**
   * GET /refresh_access_token?grant_type=ig_refresh_token: a new long-lived token for one at
   * least a day old and not expired; the old one keeps working until it expires.
   */
  function refreshToken(call, params, record) {
    if (params.grant_type !== "ig_refresh_token") return graphError(meta.badGrantType(params.grant_type));
    if (record.kind !== "long") return graphError(meta.notLongLived());
    const ageMs = now() - record.issuedAt;
    if (ageMs < config.refreshMinAgeSeconds * 1000) return graphError(meta.tooYoung(Math.floor(ageMs / 3_600_000)));
    const issued = issueToken(accounts.get(record.userId), { kind: "long", origin: "refresh", permissions: record.permissions });
    call.issuedTokenRef = tokenRef(issued.value);
    return ok({ access_token: issued.value, token_type: "bearer", expires_in: config.longLivedSeconds });
  }

  /** GET /me (or /{user-id}) with `fields`: the token's own account only. */
  function readAccount(req, id, own, fields) {
    if (id !== own) return graphError(meta.unsupported(req.method, id));
    const account = accounts.get(id);
    const wanted = fields.length > 0 ? fields : ["id"];
    const unknown = wanted.find((field) => !ACCOUNT_FIELDS.has(field));
    if (unknown) return graphError(meta.noField(unknown, "User"));
    const answer = {};
    for (const field of wanted) {
      if (field === "user_id") answer.user_id = account.userId;
      else if (field === "username") answer.username = account.username;
      else if (field === "name") answer.name = account.username;
      else if (field === "account_type") answer.account_type = "BUSINESS";
    }
    // One id per account here; on Meta `id` (app-scoped) and `user_id` may differ.
    answer.id = account.userId;
    return ok(answer);
  }

  async function createContainer(call, params, owner) {
    const imageUrl = params.image_url;
    const caption = params.caption ?? "";
    const altText = params.alt_text;
    const { limits } = config;
    const carouselItem = params.is_carousel_item !== undefined && String(params.is_carousel_item) === "true";
    const carousel = params.media_type !== undefined;
    if (carousel && String(params.media_type) !== "CAROUSEL") return graphError(meta.badParam("media_type", params.media_type));
    if (carousel && carouselItem) return graphError(meta.badParam("is_carousel_item", params.is_carousel_item));
    // A child takes its image and alt text only: caption, collaborators and place go on the parent.
    if (carouselItem) {
      for (const name of ["caption", "collaborators", "location_id"]) if (params[name] !== undefined) return graphError(meta.notOnChild(name));
    }
    const options = postOptions(params, limits);
    if (options.error) return graphError(options.error);
    if (!carousel && !imageUrl) return graphError(meta.missingParam("image_url"));
    if (carousel && imageUrl !== undefined) return graphError(meta.badParam("image_url", imageUrl));
    // The text is checked first: it costs nothing, the download does.
    const captionChars = countChars(caption);
    if (captionChars > limits.maxCaptionChars) {
      return graphError(meta.captionTooLong(`${captionChars} characters, at most ${limits.maxCaptionChars}`));
    }
    const hashtags = countHashtags(caption);
    if (hashtags > limits.maxHashtags) {
      return graphError(meta.captionTooLong(`${hashtags} hashtags, at most ${limits.maxHashtags}`));
    }
    const mentions = countMentions(caption);
    if (mentions > limits.maxMentions) return graphError(meta.tooManyMentions(limits.maxMentions));
    if (altText !== undefined && countChars(altText) > limits.maxAltTextChars) {
      return graphError(meta.altTextTooLong(limits.maxAltTextChars));
    }
    if (carousel) return createCarousel(params, owner, caption, options);

    const image = await (call.imageDownload ?? downloadImage(imageUrl, limits));
    call.imageFetch = image.record;
    if (image.error) return graphError(image.error);
    const { width, height } = image;
    if (width < limits.minWidth || width > limits.maxWidth) return graphError(meta.badWidth(width, limits));
    // Integer cross-multiplication keeps both bounds exactly inclusive, as crates/media does.
    if (5 * width < 4 * height || 100 * width > 191 * height) return graphError(meta.badAspect(width, height));

    const id = addContainer(owner, {
      mediaType: "IMAGE",
      carouselItem,
      imageUrl,
      caption: carouselItem ? null : caption,
      altText: altText ?? null,
      ...options,
      image: { sha256: image.record.sha256, bytes: image.record.bytes, width, height, contentType: image.record.contentType },
      children: null,
    });
    return ok({ id });
  }

  /** A new container of `owner` with `fields`, unprocessed; its id. */
  function addContainer(owner, fields) {
    sequence += 1;
    const id = String(CONTAINER_ID_BASE + BigInt(sequence));
    const createdAt = now();
    containers.set(id, {
      id,
      userId: owner,
      ...fields,
      publishedIn: null,
      createdAt,
      finishAt: createdAt + config.finishAfterMs,
      readsNeeded: config.finishAfterReads,
      finished: false,
      forced: null,
      statusReads: 0,
      mediaId: null,
      // Every media_publish naming it, whatever the answer; those sent once it was published.
      publishCallSeqs: [],
      publishedBySeq: null,
      publishedAt: null,
      publishVisible: false,
      visibleAt: null,
      visibleAfterReads: 0,
      readsSincePublish: 0,
    });
    return id;
  }

  /**
   * What a post carries besides its images, checked as Meta documents it: `collaborators` a
   * JSON list of at most `maxCollaborators` usernames, `location_id` a Page id,
   * `is_ai_generated` true or false. `{error}` when one is malformed.
   */
  function postOptions(params, limits) {
    const options = { collaborators: [], locationId: null, isAiGenerated: false };
    if (params.collaborators !== undefined) {
      let list;
      try {
        list = JSON.parse(String(params.collaborators));
      } catch {
        return { error: meta.badParam("collaborators", params.collaborators) };
      }
      if (!Array.isArray(list) || !list.every((name) => typeof name === "string" && /^[A-Za-z0-9._]{1,30}$/.test(name))) {
        return { error: meta.badParam("collaborators", params.collaborators) };
      }
      if (list.length > limits.maxCollaborators) return { error: meta.tooManyCollaborators(limits.maxCollaborators) };
      options.collaborators = list;
    }
    if (params.location_id !== undefined) {
      if (!/^\d{1,20}$/.test(String(params.location_id))) return { error: meta.badParam("location_id", params.location_id) };
      options.locationId = String(params.location_id);
    }
    if (params.is_ai_generated !== undefined) {
      const value = String(params.is_ai_generated);
      if (value !== "true" && value !== "false") return { error: meta.badParam("is_ai_generated", params.is_ai_generated) };
      options.isAiGenerated = value === "true";
    }
    return options;
  }

  /**
   * A carousel's parent: `children` names 2 to 10 of the account's own carousel items, each
   * FINISHED and in no published post yet, none twice.
   */
  function createCarousel(params, owner, caption, options) {
    const { limits } = config;
    if (params.children === undefined || String(params.children).trim() === "") return graphError(meta.missingParam("children"));
    const ids = String(params.children)
      .split(",")
      .map((id) => id.trim());
    if (ids.length < limits.minCarouselItems || ids.length > limits.maxCarouselItems) {
      return graphError(meta.badParam("children", `${ids.length} items; a carousel has ${limits.minCarouselItems} to ${limits.maxCarouselItems}`));
    }
    for (const [index, id] of ids.entries()) {
      const child = containers.get(id);
      if (!child || child.userId !== owner) return graphError(meta.badChild(id, "does not exist"));
      if (!child.carouselItem) return graphError(meta.badChild(id, "is not a carousel item (is_carousel_item=true)"));
      if (ids.indexOf(id) !== index) return graphError(meta.badChild(id, "appears twice"));
      if (child.publishedIn) return graphError(meta.badChild(id, "is in a published post already"));
      const status = statusOf(child);
      if (status !== "FINISHED") return graphError(meta.badChild(id, `is ${status}, not FINISHED`));
    }
    const id = addContainer(owner, {
      mediaType: "CAROUSEL",
      carouselItem: false,
      imageUrl: null,
      caption,
      altText: null,
      ...options,
      image: null,
      children: ids,
    });
    return ok({ id });
  }

  /** A comment on the account's own post, as the account. */
  function postComment(params, item, owner) {
    const message = params.message === undefined ? "" : String(params.message);
    if (message.trim() === "") return graphError(meta.missingParam("message"));
    if (countChars(message) > config.limits.maxCommentChars) {
      return graphError(meta.badParam("message", `${countChars(message)} characters, at most ${config.limits.maxCommentChars}`));
    }
    sequence += 1;
    const id = String(COMMENT_ID_BASE + BigInt(sequence));
    const createdAt = now();
    comments.set(id, {
      id,
      mediaId: item.id,
      userId: owner,
      username: accounts.get(owner)?.username ?? null,
      text: message,
      createdAt,
      timestamp: metaTime(createdAt),
    });
    return { ...ok({ id }), commented: id };
  }

  /** A post's comments, newest first, with the fields asked for. */
  function listComments(fields, item) {
    const wanted = fields.length > 0 ? fields : ["id", "text"];
    const unknown = wanted.find((field) => !COMMENT_FIELDS.has(field));
    if (unknown) return graphError(meta.noField(unknown, "IGComment"));
    const data = [...comments.values()]
      .filter((comment) => comment.mediaId === item.id)
      .reverse()
      .map((comment) => {
        const entry = {};
        for (const field of wanted) entry[field] = field === "like_count" ? 0 : comment[field];
        entry.id = comment.id;
        return entry;
      });
    return ok({ data });
  }

  /** Downloads the image as Meta does and reads its JPEG headers. */
  async function downloadImage(imageUrl, limits) {
    const record = { url: imageUrl, status: null, bytes: 0, sha256: null, contentType: null };
    let parsed;
    try {
      parsed = new URL(imageUrl);
    } catch {
      return { record, error: meta.fetchFailed(imageUrl) };
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return { record, error: meta.fetchFailed(imageUrl) };
    let response;
    const signal = AbortSignal.timeout(config.imageFetchTimeoutMs);
    const chunks = [];
    try {
      response = await fetch(parsed, { signal, redirect: "follow" });
      record.status = response.status;
      record.contentType = response.headers.get("content-type");
      if (!response.ok) {
        await response.body?.cancel();
        return { record, error: meta.fetchFailed(imageUrl) };
      }
      const declared = Number(response.headers.get("content-length"));
      if (declared > limits.maxImageBytes) {
        record.bytes = declared;
        await response.body?.cancel();
        return { record, error: meta.tooLarge() };
      }
      // Stops reading past the limit (leaving the loop cancels the download): the size is
      // all that matters then.
      for await (const chunk of response.body ?? []) {
        record.bytes += chunk.length;
        if (record.bytes > limits.maxImageBytes) return { record, error: meta.tooLarge() };
        chunks.push(chunk);
      }
    } catch (error) {
      const timedOut = error?.name === "TimeoutError" || signal.aborted;
      return { record, error: timedOut ? meta.fetchTimedOut() : meta.fetchFailed(imageUrl) };
    }
    const bytes = Buffer.concat(chunks);
    record.sha256 = createHash("sha256").update(bytes).digest("hex");
    const jpeg = jpegFrame(bytes);
    if (jpeg.error) return { record, error: meta.badFormat(jpeg.error) };
    record.width = jpeg.width;
    record.height = jpeg.height;
    return { record, width: jpeg.width, height: jpeg.height };
  }

  function publish(call, params, owner) {
    const creationId = params.creation_id;
    if (!creationId) return graphError(meta.missingParam("creation_id"));
    const container = containers.get(String(creationId));
    // Another account's container is, to this account, one that does not exist.
    if (!container || container.userId !== owner) return graphError(meta.containerNotFound(creationId));
    if (container.carouselItem) return graphError(meta.carouselItemAlone(container.id));
    // Nothing below awaits, so two concurrent publishes of one container cannot both pass.
    // A published container is refused even while its status still reads FINISHED.
    if (container.mediaId) return graphError(meta.alreadyPublished());
    switch (statusOf(container)) {
      case "IN_PROGRESS":
        return graphError(meta.notReady());
      case "PUBLISHED":
        return graphError(meta.alreadyPublished());
      case "EXPIRED":
        return graphError(meta.expired());
      case "ERROR":
        return graphError(meta.containerFailed());
    }
    if (quotaUsage(owner) >= quotaTotalOf(accounts.get(owner))) return graphError(meta.quotaReached());
    sequence += 1;
    const id = String(MEDIA_ID_BASE + BigInt(sequence));
    const shortcode = createHash("sha256").update(id).digest("base64url").slice(0, 11);
    const publishedAt = now();
    const children = (container.children ?? []).map((childId) => containers.get(childId));
    for (const child of children) child.publishedIn = id;
    media.set(id, {
      id,
      containerId: container.id,
      userId: owner,
      mediaType: container.mediaType,
      caption: container.caption,
      altText: container.altText,
      imageUrl: container.imageUrl ?? children[0]?.imageUrl ?? null,
      image: structuredClone(container.image),
      collaborators: [...container.collaborators],
      locationId: container.locationId,
      isAiGenerated: container.isAiGenerated,
      // A carousel's images in order, each as its child container received it.
      children: container.children
        ? children.map((child) => ({ containerId: child.id, imageUrl: child.imageUrl, altText: child.altText, image: structuredClone(child.image) }))
        : null,
      shortcode,
      permalink: `${config.permalinkBase}${shortcode}/`,
      publishedAt,
      timestamp: metaTime(publishedAt),
    });
    container.mediaId = id;
    container.publishedBySeq = call.seq;
    container.publishedAt = publishedAt;
    container.visibleAt = publishedAt + config.publishedAfterMs;
    container.visibleAfterReads = config.publishedAfterReads;
    container.readsSincePublish = 0;
    container.publishVisible = config.publishedAfterMs <= 0 && config.publishedAfterReads <= 0;
    return { ...ok({ id }), published: id };
  }

  function readNode(id, fields, owner) {
    const wanted = fields.length > 0 ? fields : ["id"];
    const container = containers.get(id);
    if (container && container.userId === owner) {
      const unknown = wanted.find((field) => !CONTAINER_FIELDS.has(field));
      if (unknown) return graphError(meta.noField(unknown, "ShadowIGMediaBuilder"));
      const status = statusOf(container, { read: wanted.includes("status_code") });
      const answer = {};
      for (const field of wanted) {
        if (field === "status_code") answer.status_code = status;
        if (field === "status") answer.status = statusText(container, status);
      }
      answer.id = id;
      return ok(answer);
    }
    const item = media.get(id);
    if (item && item.userId === owner) {
      const unknown = wanted.find((field) => !MEDIA_FIELDS.has(field));
      if (unknown) return graphError(meta.noField(unknown, "IGMedia"));
      const answer = {};
      for (const field of wanted) answer[field] = mediaField(item, field);
      answer.id = id;
      return ok(answer);
    }
    return graphError(meta.unsupported("GET", id));
  }

  function mediaField(item, field) {
    switch (field) {
      case "caption":
        return item.caption;
      case "alt_text":
        return item.altText ?? "";
      case "media_type":
        return item.mediaType === "CAROUSEL" ? "CAROUSEL_ALBUM" : "IMAGE";
      case "media_product_type":
        return "FEED";
      case "media_url":
        return item.imageUrl;
      case "username":
        return accounts.get(item.userId)?.username;
      default:
        return item[field];
    }
  }

  function publishingLimit(fields, owner) {
    const wanted = fields.length > 0 ? fields : ["quota_usage"];
    const entry = {};
    for (const field of wanted) {
      if (field === "quota_usage") entry.quota_usage = quotaUsage(owner);
      else if (field === "config") {
        entry.config = { quota_total: quotaTotalOf(accounts.get(owner)), quota_duration: config.quotaDurationSeconds };
      } else return graphError(meta.noField(field, "ContentPublishingLimitResponse"));
    }
    return ok({ data: [entry] });
  }

  /**
   * The account's media, newest first, a page at a time as Meta pages it: `limit` items (at
   * most `mediaPageMax`, `mediaPageSize` without one) after the cursor `after`; the answer's
   * `paging` has the page's `cursors` and, only when more remain, `next` (the URL of the next
   * page). A cursor names the item it stands for, so posts published meanwhile (at the top)
   * do not shift the pages after it.
   */
  function listMedia(fields, params, pathText, owner) {
    const wanted = fields.length > 0 ? fields : ["id"];
    const unknown = wanted.find((field) => !MEDIA_FIELDS.has(field));
    if (unknown) return graphError(meta.noField(unknown, "IGMedia"));
    let limit = config.mediaPageSize;
    if (params.limit !== undefined) {
      limit = Number(params.limit);
      if (!Number.isInteger(limit) || limit < 1) return graphError(meta.badParam("limit", params.limit));
      limit = Math.min(limit, config.mediaPageMax);
    }
    const all = [...media.values()].filter((item) => item.userId === owner).reverse();
    let start = 0;
    if (params.after !== undefined) {
      const id = cursorId(params.after);
      const index = id === null ? -1 : all.findIndex((item) => item.id === id);
      if (index < 0) return graphError(meta.badParam("after", params.after));
      start = index + 1;
    }
    const page = all.slice(start, start + limit);
    const data = page.map((item) => {
      const entry = {};
      for (const field of wanted) entry[field] = mediaField(item, field);
      entry.id = item.id;
      return entry;
    });
    const answer = { data };
    if (page.length > 0) {
      answer.paging = { cursors: { before: cursorOf(page[0].id), after: cursorOf(page.at(-1).id) } };
      if (start + limit < all.length) {
        const next = new URLSearchParams({ fields: wanted.join(","), limit: String(limit), after: answer.paging.cursors.after });
        answer.paging.next = `${baseUrl}${pathText}?${next}`;
      }
      if (start > 0) {
        const previous = new URLSearchParams({ fields: wanted.join(","), limit: String(limit), before: answer.paging.cursors.before });
        answer.paging.previous = `${baseUrl}${pathText}?${previous}`;
      }
    }
    return ok(answer);
  }

  /** Applies a queued fault that replaces the answer; `null` when the call goes on as normal. */
  function faultAnswer(fault, account) {
    switch (fault.kind) {
      case "error":
        return graphError({
          status: fault.status ?? 400,
          code: fault.code,
          subcode: fault.subcode,
          type: fault.type,
          message: fault.message ?? "Simulated error",
          isTransient: fault.isTransient,
          userTitle: fault.userTitle,
          userMsg: fault.userMsg,
          headers: fault.headers,
        });
      case "raw":
        return {
          status: fault.status ?? 502,
          body: fault.body ?? "",
          headers: { "content-type": fault.contentType ?? "text/html", ...fault.headers },
        };
      case "rate_limit": {
        const headers = { ...fault.headers };
        if (fault.retryAfter !== undefined) headers["retry-after"] = String(fault.retryAfter);
        if (fault.regainAccessMinutes !== undefined) {
          headers["x-business-use-case-usage"] = JSON.stringify({
            [account ?? userId]: [
              {
                type: "instagram",
                call_count: 100,
                total_cputime: 10,
                total_time: 10,
                estimated_time_to_regain_access: fault.regainAccessMinutes,
              },
            ],
          });
        }
        const status = fault.status ?? 429;
        if (fault.bare) return { status, body: "", headers: { "content-type": "text/plain", ...headers } };
        const base = fault.code === undefined ? meta.throttled() : { code: fault.code, isTransient: true };
        return graphError({ ...base, subcode: fault.subcode, message: fault.message ?? base.message ?? "Rate limited", status, headers });
      }
      default:
        return null;
    }
  }

  async function handleGraph(req, res, url) {
    const startedAt = Date.now();
    const raw = url.pathname.split("/").slice(1);
    let segments;
    try {
      segments = raw.map((segment) => decodeURIComponent(segment));
    } catch {
      segments = raw;
    }
    let version = null;
    if (/^v\d+\.\d+$/.test(segments[0] ?? "")) version = segments.shift();
    const query = Object.fromEntries(url.searchParams);
    const call = {
      seq: calls.length + 1,
      at: startedAt,
      method: req.method,
      path: url.pathname,
      version,
      op: null,
      query: redactParams(query),
      body: null,
      contentType: req.headers["content-type"] ?? null,
      auth: { present: bearer(req.headers.authorization) !== null, valid: false },
      tokenInQuery: "access_token" in query,
      tokenInBody: false,
      fault: null,
      status: null,
      outcome: "pending",
      durationMs: null,
    };
    calls.push(call);

    const body = await readBody(req);
    const form = parseBody(body.text, call.contentType);
    call.tokenInBody = "access_token" in form;
    call.body = req.method === "GET" && !body.text ? null : redactParams(form);
    // POST parameters may come in the query or the body, as Meta reads both.
    const params = { ...query, ...form };
    delete params.access_token;
    const target = route(req.method, segments, params);
    target.versionMismatch = apiVersion !== null && version !== null && version !== apiVersion;
    call.op = target.op;
    // The publishing calls take the token from the Authorization header only, as
    // crates/instagram sends it; the account read and the token calls take it from the header
    // or, as Meta documents them, the `access_token` parameter.
    const headerToken = bearer(req.headers.authorization);
    const paramToken = form.access_token ?? query.access_token ?? null;
    const presented = TOKEN_PARAM_OPS.has(target.op) ? (headerToken ?? paramToken) : headerToken;
    const auth = { presented, record: presented === null ? undefined : tokens.get(presented), header: headerToken };
    call.tokenRef = presented === null ? null : tokenRef(presented);
    call.account = accountOfCall(target, params, auth.record);
    const subject = subjectOf(target, params);
    if (target.op === "publish" && subject.container) {
      subject.container.publishCallSeqs.push(call.seq);
      call.containerId = subject.container.id;
    }

    // A call no operation matches (a wrong path) meets only faults for "any".
    const fault = takeFault(target.op, subject.texts, call.account);
    if (fault) call.fault = { id: fault.id, kind: fault.kind };
    if (fault?.kind === "latency" && target.op === "container" && params.image_url) {
      // Meta fetches the image while the call is in flight: a late answer is late by the
      // delay, not by the delay and the download.
      // Not enumerable: the call log shows calls, not promises.
      Object.defineProperty(call, "imageDownload", { value: downloadImage(params.image_url, config.limits) });
    }
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault?.kind === "hang") return hang(res, call);

    const answer = (fault && faultAnswer(fault, call.account)) ?? (await answerGraph(req, call, target, params, url.pathname, auth));
    if (answer.commented) call.commentId = answer.commented;
    if (fault?.kind === "lost_answer" && (answer.published || answer.commented)) {
      // The post (or the comment) is live; only the answer goes missing.
      const mode = String(fault.mode ?? "destroy");
      if (answer.published) call.publishedMediaId = answer.published;
      if (mode === "hang") return hang(res, call);
      if (mode === "destroy") {
        finish(call, null, "destroyed", startedAt);
        req.socket.destroy();
        return;
      }
      return send(res, call, fault.body !== undefined ? rawAnswer(500, fault.body) : graphError({ ...meta.serverError(), status: 500 }), startedAt);
    }
    if (answer.published) call.publishedMediaId = answer.published;
    return send(res, call, answer, startedAt);
  }

  function hang(res, call) {
    call.outcome = "hung";
    hung.add(res);
    res.on("close", () => hung.delete(res));
    logCall(call);
  }

  function finish(call, status, outcome, startedAt) {
    call.status = status;
    call.outcome = outcome;
    call.durationMs = Date.now() - startedAt;
    logCall(call);
  }

  function send(res, call, answer, startedAt) {
    finish(call, answer.status, "answered", startedAt);
    res.writeHead(answer.status, {
      "content-type": "application/json; charset=UTF-8",
      "x-fb-trace-id": traceId(),
      ...answer.headers,
    });
    res.end(typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body));
  }

  function logCall(call) {
    if (!log) return;
    const outcome = call.outcome === "answered" ? String(call.status) : call.outcome;
    const fault = call.fault ? ` [fault ${call.fault.kind}]` : "";
    // The path never holds a token as crates/instagram builds it; this is a second guard.
    let path = call.path;
    for (const value of tokens.keys()) if (path.includes(value)) path = path.split(value).join("[redacted]");
    log(`${call.method} ${path} ${call.op ?? "-"} -> ${outcome}${fault}`);
  }

  // The default account first, then the accounts asked for at start.
  addAccountKept({ username: options.username ?? DEFAULT_USERNAME, userId, token, quotaTotal: undefined });
  restore();
  restored = true;
  for (const spec of options.accounts ?? []) {
    // Accounts restored from persistPath are there already.
    if (spec.userId !== undefined && accounts.has(String(spec.userId))) continue;
    if ([...accounts.values()].some((account) => account.username === spec.username)) continue;
    addAccountKept(spec);
  }
  persist();

  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://simulator");
    const handler = url.pathname.startsWith("/__control/") ? handleControl : handleGraph;
    // Each call may have made or changed a token: kept at once with persistPath.
    handler(req, res, url)
      .then(() => persist())
      .catch((error) => {
        // A simulator bug answers 500 rather than crash the test run; it names no token.
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: `graph simulator failed: ${error.message}` } }));
        }
      });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve);
  });
  const address = server.address();
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const baseUrl = `http://${host}:${address.port}`;

  return {
    /** GraphConfig.base_url: scheme and host; the crate adds the version segment itself. */
    url: baseUrl,
    /** GraphConfig.api_version to use with `url` (or "" for unversioned paths). */
    apiVersion: apiVersion ?? DEFAULT_API_VERSION,
    /** GraphConfig.user_id. */
    userId,
    port: address.port,
    /** The default account's token, for the test or dev setup that sends it. */
    token,
    /** The default account's username. */
    username: accounts.get(userId).username,
    /** The Instagram app of Instagram Login: `{ appId, appSecret }`. */
    app: { appId, appSecret },
    /** Instagram Login's URLs, all on `url`. */
    oauth: {
      authorize: `${baseUrl}/oauth/authorize`,
      token: `${baseUrl}/oauth/access_token`,
      exchange: `${baseUrl}/access_token`,
      refresh: `${baseUrl}/refresh_access_token`,
      me: `${baseUrl}/${apiVersion ?? DEFAULT_API_VERSION}/me`,
    },
    /** Adds an account: `{ username, userId?, quotaTotal?, token? }` -> `{ userId, username, token }`. */
    addAccount: addAccountKept,
    /** Every account with its start token: `[{ userId, username, token }]`, the default one first. */
    accounts: () => [...accounts.values()].map((account) => ({ userId: account.userId, username: account.username, token: account.startToken })),
    /** Every call so far (Graph and Instagram Login; control calls are not), oldest first. */
    calls,
    state,
    control,
    close() {
      for (const res of hung) res.destroy();
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// ---- helpers ------------------------------------------------------------------------------

function ok(body) {
  return { status: 200, body };
}

function sendJson(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function rawAnswer(status, body) {
  return { status, body: typeof body === "string" ? body : JSON.stringify(body) };
}

/** An answer with Meta's error body: `{"error": {message, type, code, error_subcode, ...}}`. */
function graphError({ status = 400, code, subcode, type, message, isTransient, userTitle, userMsg, headers }) {
  const error = { message, type: type ?? "OAuthException", code };
  if (subcode !== undefined && subcode !== null) error.error_subcode = subcode;
  if (isTransient !== undefined) error.is_transient = isTransient;
  if (userTitle !== undefined) error.error_user_title = userTitle;
  if (userMsg !== undefined) error.error_user_msg = userMsg;
  error.fbtrace_id = traceId();
  return { status, body: { error }, headers: headers ?? {} };
}

function traceId() {
  return `A${randomBytes(16).toString("base64url").slice(0, 22)}`;
}

/** The token of `Authorization: Bearer <token>` (Meta also takes the `OAuth` scheme). */
function bearer(header) {
  const match = /^\s*(?:bearer|oauth)\s+(\S+)\s*$/i.exec(header ?? "");
  return match ? match[1] : null;
}

/** Request parameters as recorded: a token's, a code's or the app secret's value never is. */
function redactParams(params) {
  const copy = { ...params };
  for (const name of ["access_token", "client_secret", "code"]) if (name in copy) copy[name] = "[redacted]";
  return copy;
}

/** Operations that take the token from the `access_token` parameter as well as the header. */
const TOKEN_PARAM_OPS = new Set(["me", "exchange", "refresh"]);

/** A scope parameter's permissions: comma- or space-separated. */
function scopeOf(scope) {
  return String(scope ?? "")
    .split(/[\s,]+/)
    .filter(Boolean);
}

/** api.instagram.com's error body for the code exchange (not the Graph API's shape). */
function oauthError(message) {
  return { status: 400, body: { error_type: "OAuthException", code: 400, error_message: message } };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** A small HTML page, as the authorization window is one. */
function htmlAnswer(status, title, main) {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Instagram (local simulator)</title></head>
<body><main>
<h1>${escapeHtml(title)}</h1>
${main}
</main></body></html>
`;
  return { status, body, headers: { "content-type": "text/html; charset=utf-8" } };
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString("utf8"), size };
}

/** A form body (what crates/instagram sends) or a JSON one (Meta takes both). */
function parseBody(text, contentType) {
  if (!text) return {};
  if (/json/i.test(contentType ?? "")) {
    try {
      const value = JSON.parse(text);
      if (value && typeof value === "object" && !Array.isArray(value)) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
      }
    } catch {
      // Falls through: an unparsable body carries no parameters.
    }
    return {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function fieldList(fields) {
  return (fields ?? "")
    .split(",")
    .map((field) => field.trim())
    .filter(Boolean);
}

/** Characters as Unicode scalar values, as crates/domain counts them. */
function countChars(text) {
  return [...text].length;
}

/** Hashtags: a `#` or a full-width `＃` that starts a tag (not followed by space or another `#`). */
export function countHashtags(text) {
  return (text.match(/[#＃](?=[^\s#＃])/gu) ?? []).length;
}

/** @-mentions: `@` or `＠` before a username, not inside a word (so an e-mail is none). */
export function countMentions(text) {
  return (text.match(/(?<![\p{L}\p{N}_.@＠])[@＠](?=[A-Za-z0-9._])/gu) ?? []).length;
}

/**
 * The size of a JPEG from its frame header, read from the markers as Meta's ingestion would:
 * SOI, then segments up to a baseline, extended or progressive frame header (SOF0 to SOF2).
 */
export function jpegFrame(bytes) {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return { error: sniff(bytes) };
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) return { error: `a corrupt JPEG (no marker at byte ${pos})` };
    while (bytes[pos] === 0xff && pos < bytes.length) pos += 1; // fill bytes
    const marker = bytes[pos];
    pos += 1;
    // Markers without a length: TEM and RSTn.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda) return { error: "a JPEG without a frame header" };
    if (pos + 2 > bytes.length) break;
    const length = (bytes[pos] << 8) | bytes[pos + 1];
    if (length < 2) return { error: "a corrupt JPEG (bad segment length)" };
    if (marker >= 0xc0 && marker <= 0xc2) {
      if (pos + 7 > bytes.length) break;
      const height = (bytes[pos + 3] << 8) | bytes[pos + 4];
      const width = (bytes[pos + 5] << 8) | bytes[pos + 6];
      if (width === 0 || height === 0) return { error: "a JPEG without a size" };
      return { width, height, progressive: marker === 0xc2 };
    }
    // Lossless, hierarchical and arithmetic-coded JPEGs are not what Instagram decodes.
    if ([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf].includes(marker)) {
      return { error: `an unsupported JPEG process (SOF marker 0x${marker.toString(16)})` };
    }
    pos += length;
  }
  return { error: "a JPEG cut short before its frame header" };
}

function sniff(bytes) {
  const head = bytes.subarray(0, 12);
  if (head.length === 0) return "an empty file";
  if (head[0] === 0x89 && head.toString("latin1", 1, 4) === "PNG") return "PNG";
  if (head.toString("latin1", 0, 4) === "GIF8") return "GIF";
  if (head.toString("latin1", 0, 4) === "RIFF" && head.toString("latin1", 8, 12) === "WEBP") return "WebP";
  if (/^\s*</.test(head.toString("latin1"))) return "HTML or XML";
  return "not a JPEG";
}

/** A paging cursor: opaque to the client, the media id it stands for to the simulator. */
function cursorOf(id) {
  return Buffer.from(`media:${id}`).toString("base64url");
}

function cursorId(cursor) {
  const text = Buffer.from(String(cursor), "base64url").toString("utf8");
  return text.startsWith("media:") ? text.slice("media:".length) : null;
}

function ratioText(width, height) {
  return `${Number((width / height).toFixed(2))}:1`;
}

/** Meta's time format: 2026-02-14T09:12:45+0000. */
function metaTime(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+0000");
}

function expiredMessage(expiredAt = Date.now() - 3600_000, at = Date.now()) {
  const when = new Date(expiredAt).toUTCString();
  return `Error validating access token: Session has expired on ${when}. The current time is ${new Date(at).toUTCString()}.`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
