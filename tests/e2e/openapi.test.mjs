// The OpenAPI document against the running api Worker: it is served as written, every
// documented operation exists, and every answer is one the document lists, in the shape its
// schema describes.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT, startPipeline } from "./harness.mjs";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const document = JSON.parse(readFileSync(join(ROOT, "workers/api/openapi.json"), "utf8"));

let pipeline;
before(async () => {
  pipeline = await startPipeline();
});
after(() => pipeline?.dispose());

/** Every documented operation: path, method and the operation object. */
function operations() {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({ path, method, operation: item[method] })),
  );
}

function needsToken(operation) {
  const security = operation.security ?? document.security ?? [];
  return security.length > 0;
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
    assert.match(answer.json.error.message, /^no draft with id /, label);
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

test("the served document is workers/api/openapi.json", async () => {
  const answer = await pipeline.request("GET", "/api/v1/openapi.json");
  assert.equal(answer.status, 200, answer.text);
  assert.match(answer.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(answer.json, document);
  assert.match(document.openapi, /^3\.1\./);
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

test("every documented operation exists and answers with a documented status", async () => {
  const seen = [];
  for (const entry of operations()) {
    const { path, method, operation } = entry;
    const answer = await pipeline.request(method.toUpperCase(), concretePath(path), { body: validBody(operation) });
    checkAnswer(entry, answer);
    seen.push(`${method.toUpperCase()} ${path} ${answer.status}`);
  }
  assert.deepEqual(seen.sort(), [
    "GET /api/v1/drafts/{id} 404",
    "GET /api/v1/openapi.json 200",
    "GET /healthz 200",
    "POST /api/v1/generate 201",
  ]);
});

test("operations that need the token answer a documented 401 without it", async () => {
  for (const entry of operations()) {
    const { path, method, operation } = entry;
    const answer = await pipeline.request(method.toUpperCase(), concretePath(path), {
      body: validBody(operation),
      token: needsToken(operation) ? null : undefined,
    });
    if (needsToken(operation)) {
      assert.equal(answer.status, 401, `${method} ${path}: ${answer.text}`);
      assert.equal(answer.json.error.code, "unauthorized");
    }
    checkAnswer(entry, answer);
  }
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
    [413, "payload_too_large", { raw: JSON.stringify({ brief: "x".repeat(17000) }), headers: { "content-type": "application/json" } }],
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
