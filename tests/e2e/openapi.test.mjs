// The OpenAPI document against the running api Worker: it is served as written, every
// documented operation exists, and every answer is one the document lists, in the shape its
// schema describes.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { API_TOKEN, REVIEWER, ROOT, startPipeline } from "./harness.mjs";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const document = JSON.parse(readFileSync(join(ROOT, "workers/api/openapi.json"), "utf8"));

let pipeline;
before(async () => {
  pipeline = await startPipeline({}, { variants: { configured: { MAX_HASHTAGS: "3", DEFAULT_LANGUAGE: "en" } } });
});
after(() => pipeline?.dispose());

/** Every documented operation: path, method and the operation object. */
function operations() {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({ path, method, operation: item[method] })),
  );
}

/** The security requirements the document gives an operation (its own, else the document's). */
function securityOf(operation) {
  return operation.security ?? document.security ?? [];
}

/**
 * The api Worker's route table (`ROUTES` in workers/api/src/routes.rs), read from its source:
 * `{ method, pattern, access }` per route. An oracle independent of the document.
 */
function routeTable() {
  const source = readFileSync(join(ROOT, "workers/api/src/routes.rs"), "utf8");
  const start = source.indexOf("pub const ROUTES");
  const table = source.slice(start, source.indexOf("];", start));
  const routes = [
    ...table.matchAll(/method:\s*"(\w+)",\s*pattern:\s*"([^"]+)",\s*route:\s*Route::(?:\w+|Act\(DraftAction::\w+\)),\s*access:\s*Access::(\w+)/g),
  ].map(([, method, pattern, access]) => ({ method, pattern, access }));
  assert.equal(routes.length, (table.match(/RouteDef \{/g) ?? []).length, "a RouteDef the reader could not parse");
  assert.ok(routes.length > 0, "no routes found in routes.rs");
  return routes;
}

/** Whether a route of the table belongs to the JSON API the document describes. */
function isJsonApi(pattern) {
  return pattern === "/healthz" || pattern.startsWith("/api/");
}

/**
 * What an operation answers to `concretePath` with its first example: an operation on one
 * draft finds no draft with the random id (404); generate makes one (201); the rest read (200).
 */
function expectedStatus(method, path) {
  // A person's decision: the API_TOKEN these requests carry is refused before the draft is read.
  const security = document.paths[path][method.toLowerCase()].security ?? document.security;
  if (security.length > 0 && !security.some((scheme) => "apiToken" in scheme)) return 403;
  if (path.includes("{id}")) return 404;
  return method === "POST" && path === "/api/v1/generate" ? 201 : 200;
}

function resolve(node) {
  while (node?.$ref) {
    assert.match(node.$ref, /^#\//, `only local references: ${node.$ref}`);
    node = node.$ref
      .slice(2)
      .split("/")
      .reduce((at, key) => at?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], document);
    assert.ok(node, "a dangling $ref");
  }
  return node;
}

function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/**
 * The keywords of JSON Schema this document uses, enough to check answers against it.
 * Returns every mismatch as "where: what".
 */
function validate(schema, value, where = "$") {
  schema = resolve(schema);
  const problems = [];
  const fail = (what) => problems.push(`${where}: ${what}`);
  if (schema.type !== undefined) {
    const types = [schema.type].flat();
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === "integer" && types.includes("number"))) {
      fail(`expected ${types.join(" or ")}, got ${actual}`);
      return problems;
    }
  }
  if (schema.const !== undefined && value !== schema.const) fail(`expected ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) fail(`${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === "string") {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) fail(`shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && length > schema.maxLength) fail(`longer than ${schema.maxLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) fail(`does not match ${schema.pattern}`);
    if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) fail("not a date-time");
    if (schema.format === "uri" && !URL.canParse(value)) fail("not a URI");
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) fail(`below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) fail(`above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((item, i) => problems.push(...validate(schema.items, item, `${where}[${i}]`)));
  }
  if (typeOf(value) === "object") {
    for (const name of schema.required ?? []) {
      if (!(name in value)) fail(`missing ${name}`);
    }
    for (const [name, item] of Object.entries(value)) {
      if (schema.properties?.[name]) {
        problems.push(...validate(schema.properties[name], item, `${where}.${name}`));
      } else if (schema.additionalProperties === false) {
        fail(`unexpected property ${name}`);
      }
    }
  }
  return problems;
}

/** A path with its parameters filled in: a random (unknown) UUID for `{id}`. */
function concretePath(path) {
  return path.replace(/\{(\w+)\}/g, (_, name) => {
    assert.equal(name, "id", `no value known for the path parameter {${name}}`);
    return randomUUID();
  });
}

/** A body the operation accepts: its first request example. */
function validBody(operation) {
  const content = operation.requestBody?.content?.["application/json"];
  if (!content) return undefined;
  const example = content.example ?? Object.values(content.examples ?? {})[0]?.value;
  assert.ok(example !== undefined, "a request body needs an example to send");
  return { ...example, ...(example.brief ? { brief: `${example.brief} (${randomUUID()})` } : {}) };
}

/** Checks an answer: not a route miss, a documented status, and the documented shape. */
function checkAnswer({ path, method, operation }, answer) {
  const label = `${method.toUpperCase()} ${path} answered ${answer.status}: ${answer.text.slice(0, 300)}`;
  assert.notEqual(answer.status, 405, label);
  if (answer.status === 404) {
    assert.equal(answer.json?.error?.code, "not_found", label);
    assert.doesNotMatch(answer.json.error.message, /^no route for/, `a route miss: ${label}`);
    assert.match(answer.json.error.message, /^no (draft with id|account) /, label);
  }
  const documented = resolve(operation.responses[String(answer.status)]);
  assert.ok(documented, `${label}; documented: ${Object.keys(operation.responses).join(", ")}`);
  const content = documented.content?.["application/json"];
  if (content) {
    assert.match(answer.headers.get("content-type") ?? "", /^application\/json/, label);
    assert.ok(answer.json !== undefined, `not JSON: ${label}`);
    assert.deepEqual(validate(content.schema, answer.json), [], label);
  }
  for (const [name, header] of Object.entries(documented.headers ?? {})) {
    const spec = resolve(header);
    const value = answer.headers.get(name);
    if (value === null) {
      assert.ok(!spec.required, `header ${name} is missing: ${label}`);
    } else {
      assert.deepEqual(validate(spec.schema, value), [], `header ${name}: ${label}`);
    }
  }
}

/** The document with the configured values of a deployment filled in. */
function configuredDocument(maxHashtags, language) {
  const expected = structuredClone(document);
  const request = expected.components.schemas.GenerateRequest.properties;
  request.hashtagCount.maximum = maxHashtags;
  request.hashtagCount.default = maxHashtags;
  request.language.default = language;
  return expected;
}

test("the served document is workers/api/openapi.json with the running configuration", async () => {
  assert.match(document.openapi, /^3\.1\./);
  // wrangler/api.toml: MAX_HASHTAGS = "5", DEFAULT_LANGUAGE = "ja".
  const answer = await pipeline.request("GET", "/api/v1/openapi.json");
  assert.equal(answer.status, 200, answer.text);
  assert.match(answer.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(answer.json, configuredDocument(5, "ja"));

  // Another deployment's document states its own settings, not the file's...
  const configured = pipeline.variant("configured");
  const other = await configured.request("GET", "/api/v1/openapi.json");
  assert.equal(other.status, 200, other.text);
  assert.deepEqual(other.json, configuredDocument(3, "en"));
  // ...and they are the ones it enforces.
  const properties = other.json.components.schemas.GenerateRequest.properties;
  const over = await configured.generate({ brief: "Autumn menu", hashtagCount: properties.hashtagCount.maximum + 1 });
  assert.equal(over.status, 400, over.text);
  assert.deepEqual(over.json.error.problems.map((p) => p.path), ["hashtagCount"]);
  const defaults = await configured.generate({ brief: "Autumn menu" });
  assert.equal(defaults.status, 201, defaults.text);
  assert.equal(defaults.json.hashtags.length, properties.hashtagCount.default);
  assert.equal(defaults.json.language, properties.language.default);
});

test("the document is self-consistent: references resolve, examples fit their schemas", () => {
  const references = JSON.stringify(document).match(/"\$ref":"[^"]*"/g) ?? [];
  for (const reference of references) resolve({ $ref: JSON.parse(`{${reference}}`).$ref });
  for (const { path, method, operation } of operations()) {
    const where = `${method.toUpperCase()} ${path}`;
    assert.ok(operation.operationId, `${where} has an operationId`);
    const contents = [
      operation.requestBody?.content,
      ...Object.values(operation.responses).map((response) => resolve(response).content),
    ];
    for (const content of contents.filter(Boolean)) {
      for (const media of Object.values(content)) {
        const examples = [media.example, ...Object.values(media.examples ?? {}).map((e) => e.value)];
        for (const example of examples.filter((e) => e !== undefined)) {
          assert.deepEqual(validate(media.schema, example), [], `${where}: ${JSON.stringify(example)}`);
        }
      }
    }
  }
});

test("the document lists exactly the routes of the JSON API (workers/api/src/routes.rs)", () => {
  const documented = operations().map(({ path, method }) => `${method.toUpperCase()} ${path}`);
  const routes = routeTable()
    .filter(({ pattern }) => isJsonApi(pattern))
    .map(({ method, pattern }) => `${method} ${pattern}`);
  assert.deepEqual(documented.sort(), routes.sort());
});

test("every documented operation exists and answers with a documented status", async () => {
  const seen = {};
  for (const entry of operations()) {
    const { path, method, operation } = entry;
    const answer = await pipeline.request(method.toUpperCase(), concretePath(path), { body: validBody(operation) });
    checkAnswer(entry, answer);
    seen[`${method.toUpperCase()} ${path}`] = answer.status;
  }
  const expected = Object.fromEntries(
    Object.keys(seen).map((op) => {
      const [method, path] = op.split(" ");
      return [op, expectedStatus(method, path)];
    }),
  );
  assert.deepEqual(seen, expected);
  assert.ok(Object.keys(seen).length >= 5, `only ${Object.keys(seen).length} operations documented`);
});

test("every /api/ route refuses a request without the token (401), whatever the document says; only /healthz is public", async () => {
  const routes = routeTable().filter(({ pattern }) => isJsonApi(pattern));
  const paths = new Set([...Object.keys(document.paths), ...routes.map(({ pattern }) => pattern)]);
  let refused = 0;
  for (const path of paths) {
    const methodsOfPath = routes.filter((route) => route.pattern === path).map((route) => route.method);
    assert.ok(methodsOfPath.length > 0, `${path} is documented but has no route`);
    for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const exists = methodsOfPath.includes(method === "HEAD" ? "GET" : method);
      const operation = document.paths[path]?.[method.toLowerCase()];
      for (const [why, token] of [["no token", null], ["a wrong token", "not-the-token"]]) {
        const label = `${method} ${path} with ${why}`;
        const answer = await pipeline.request(method, concretePath(path), {
          body: operation ? validBody(operation) : undefined,
          token,
        });
        const allowed = answer.headers.get("allow")?.split(/,\s*/).sort();
        if (method === "OPTIONS") {
          // Says which methods exist, and nothing else.
          assert.equal(answer.status, 204, `${label}: ${answer.text}`);
          assert.equal(answer.text, "", label);
          assert.deepEqual(allowed, [...methodsOfPath, ...(methodsOfPath.includes("GET") ? ["HEAD"] : []), "OPTIONS"].sort(), label);
          continue;
        }
        if (!exists) {
          assert.equal(answer.status, 405, `${label}: ${answer.text}`);
          // An answer to HEAD has no body.
          if (method !== "HEAD") assert.equal(answer.json.error.code, "method_not_allowed", label);
          assert.ok(allowed?.includes("OPTIONS"), `${label}: Allow ${allowed}`);
          continue;
        }
        if (path === "/healthz") {
          assert.equal(answer.status, 200, `${label}: ${answer.text}`);
          continue;
        }
        assert.ok(path.startsWith("/api/"), `a JSON route outside /api/: ${path}`);
        assert.equal(answer.status, 401, `${label}: ${answer.text}`);
        assert.equal(answer.headers.get("www-authenticate"), "Bearer", label);
        if (method === "HEAD") {
          assert.equal(answer.text, "", label);
        } else {
          assert.equal(answer.json.error.code, "unauthorized", label);
          if (operation) checkAnswer({ path, method: method.toLowerCase(), operation }, answer);
        }
        refused += 1;
      }
    }
  }
  // Every /api/ route of the table, and HEAD of its GET routes, without and with a wrong token.
  const expected = routes.filter(({ pattern }) => pattern.startsWith("/api/"));
  const heads = expected.filter(({ method }) => method === "GET");
  assert.equal(refused, 2 * (expected.length + heads.length));
});

test("the document's security matches the Worker: every operation needs the bearer token (or a review session) except /healthz", () => {
  const schemes = document.components?.securitySchemes ?? {};
  for (const { path, method, operation } of operations()) {
    const where = `${method.toUpperCase()} ${path}`;
    const security = securityOf(operation);
    if (path === "/healthz") {
      assert.deepEqual(security, [], `${where} is public`);
      continue;
    }
    assert.ok(security.length > 0, `${where} is documented as public`);
    let bearer = false;
    for (const requirement of security) {
      const names = Object.keys(requirement);
      // An empty requirement ({}) among the alternatives would make credentials optional.
      assert.ok(names.length > 0, `${where}: an empty requirement makes the token optional`);
      for (const name of names) {
        const scheme = schemes[name];
        assert.ok(scheme, `${where}: no security scheme ${name}`);
        const isBearer = scheme.type === "http" && scheme.scheme?.toLowerCase() === "bearer";
        const isSessionCookie = scheme.type === "apiKey" && scheme.in === "cookie";
        assert.ok(isBearer || isSessionCookie, `${where}: ${name} is ${JSON.stringify(scheme)}`);
        bearer ||= isBearer && names.length === 1;
      }
    }
    assert.ok(bearer, `${where}: the API token alone is not documented as enough`);
    assert.ok(operation.responses["401"], `${where} does not document its 401`);
  }
  // The route table agrees: of the JSON API only /healthz is public.
  for (const { method, pattern, access } of routeTable().filter(({ pattern }) => isJsonApi(pattern))) {
    if (pattern === "/healthz") assert.equal(access, "Public", `${method} ${pattern}`);
    else assert.notEqual(access, "Public", `${method} ${pattern}`);
  }
});

test("X-Reviewer: documented on every operation a reviewer's token opens, and the token must be that reviewer's", async () => {
  const ref = "#/components/parameters/Reviewer";
  const header = resolve({ $ref: ref });
  assert.equal(header.in, "header");
  assert.equal(header.name, "X-Reviewer");
  assert.equal(header.required, false);
  for (const { path, method, operation } of operations()) {
    const takesReviewerToken = securityOf(operation).some((requirement) => "reviewerToken" in requirement);
    const documented = (operation.parameters ?? []).some((parameter) => parameter.$ref === ref);
    assert.equal(documented, takesReviewerToken, `${method.toUpperCase()} ${path}`);
  }
  const list = { path: "/api/v1/drafts", method: "get", operation: document.paths["/api/v1/drafts"].get };
  const as = (token, name) => pipeline.request("GET", "/api/v1/drafts", { token, headers: { "x-reviewer": name } });
  // The reviewer's own name, spelled as people type it: theirs.
  const own = await as(REVIEWER.token, ` ${REVIEWER.name.toUpperCase()} `);
  assert.equal(own.status, 200, own.text);
  checkAnswer(list, own);
  // A name that is not the token's, a name that is no reviewer's, the API_TOKEN under a name:
  // the documented 401, the same each time.
  const refused = [];
  for (const [token, name] of [
    [REVIEWER.token, header.example],
    [REVIEWER.token, "Nobody at all"],
    [API_TOKEN, REVIEWER.name],
  ]) {
    const answer = await as(token, name);
    assert.equal(answer.status, 401, `${name}: ${answer.text}`);
    checkAnswer(list, answer);
    refused.push(answer.json);
  }
  assert.deepEqual(refused[1], refused[0]);
  assert.deepEqual(refused[2], refused[0]);
});

test("every request example is accepted, and the draft it makes reads back as documented", async () => {
  const generate = document.paths["/api/v1/generate"].post;
  const getDraft = { path: "/api/v1/drafts/{id}", method: "get", operation: document.paths["/api/v1/drafts/{id}"].get };
  for (const [name, { value }] of Object.entries(generate.requestBody.content["application/json"].examples)) {
    const created = await pipeline.generate(value);
    assert.equal(created.status, 201, `${name}: ${created.text}`);
    checkAnswer({ path: "/api/v1/generate", method: "post", operation: generate }, created);
    const read = await pipeline.request("GET", `/api/v1/drafts/${created.json.draftId}`);
    assert.equal(read.status, 200, read.text);
    checkAnswer(getDraft, read);
  }
});

test("the error answers of generate are documented, with their codes", async () => {
  const generate = { path: "/api/v1/generate", method: "post", operation: document.paths["/api/v1/generate"].post };
  const key = randomUUID();
  const cases = [
    [400, "validation_failed", { body: { tone: "grumpy", extra: 1 } }],
    [400, "bad_request", { body: { brief: "x" }, headers: { "idempotency-key": "has space" } }],
    [413, "payload_too_large", { raw: JSON.stringify({ brief: "x".repeat(64 * 1024) }), headers: { "content-type": "application/json" } }],
    [415, "unsupported_media_type", { raw: "brief=x", headers: { "content-type": "text/plain" } }],
    [201, undefined, { body: { brief: "idempotent" }, headers: { "idempotency-key": key } }],
    [200, undefined, { body: { brief: "idempotent" }, headers: { "idempotency-key": key } }],
    [422, "unprocessable", { body: { brief: "something else" }, headers: { "idempotency-key": key } }],
  ];
  for (const [status, code, options] of cases) {
    const answer = await pipeline.request("POST", "/api/v1/generate", options);
    assert.equal(answer.status, status, answer.text);
    if (code) assert.equal(answer.json.error.code, code);
    checkAnswer(generate, answer);
  }
  const bad = await pipeline.request("GET", "/api/v1/drafts/not-a-uuid");
  assert.equal(bad.status, 400, bad.text);
  checkAnswer({ path: "/api/v1/drafts/{id}", method: "get", operation: document.paths["/api/v1/drafts/{id}"].get }, bad);
});
