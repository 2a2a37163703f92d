// The publish consumer against the Graph API simulator, message by message: each batch is
// handed over with `deliver`, and every test asserts what the simulator (Meta) saw, what
// the draft became, what was logged and what was queued next.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { startFakeLangSmith } from "../fakes/langsmith.mjs";
import {
  assertBackoff,
  instagramCaption,
  message,
  PUBLISH,
  rfc3339,
  SETTINGS,
  sha256,
  startPublishing,
} from "./publish-support.mjs";
import { REVIEWER } from "./harness.mjs";
import { assertNoSecret } from "./support.mjs";

const LANGSMITH_KEY = "lsv2_pt_publish_e2e_5c4b3a291807";
let p;
let langsmith;
before(async () => {
  langsmith = await startFakeLangSmith();
  p = await startPublishing({
    vars: { LANGSMITH_API_KEY: LANGSMITH_KEY, LANGSMITH_ENDPOINT: langsmith.url, LANGSMITH_PROJECT: "publish-e2e" },
  });
});
after(async () => {
  await p?.dispose();
  await langsmith?.close();
});
beforeEach(() => {
  p.resetSim();
  p.webhook.reset();
  langsmith.reset();
});

const ops = () => p.ops();

/** The one message sent to `queue` for draft `id`. */
function onlySent(queue, id) {
  const sent = p.sent(queue, id);
  assert.equal(sent.length, 1, `${queue}: ${JSON.stringify(sent)}`);
  return sent[0];
}

test("an approved draft is published with exactly the approved text and image, every step logged", async () => {
  const draft = await p.approvedDraft({
    caption: "Our autumn menu is here: squash soup, apple pie & more. Come by!",
    hashtags: ["autumn", "cafe", "soup"],
    altText: "A bowl of orange squash soup beside a slice of apple pie",
  });
  const { outcomes } = await p.publish([message(draft.id)]);
  assert.deepEqual(outcomes, ["acked"]);

  // What Meta saw: one container from the approved snapshot, its status, one publish.
  assert.deepEqual(ops(), ["container", "status", "publish", "permalink"]);
  const [container] = p.calls("container");
  assert.equal(container.body.caption, instagramCaption(draft.caption, draft.hashtags));
  assert.equal(container.body.caption, `${draft.caption}\n\n#autumn #cafe #soup`);
  assert.equal(container.body.alt_text, draft.altText);
  assert.equal(container.body.image_url, `${p.relay.url}/media/${draft.key}`);
  assert.equal(container.imageFetch.status, 200);
  assert.equal(container.imageFetch.sha256, draft.sha256, "the image Meta downloaded is not the approved one");
  for (const call of p.calls()) {
    assert.deepEqual(call.auth, { present: true, valid: true });
    assert.equal(call.tokenInQuery, false);
    assert.equal(call.tokenInBody, false);
  }
  const media = p.media();
  assert.equal(media.length, 1);
  assert.equal(media[0].caption, container.body.caption);
  assert.equal(media[0].altText, draft.altText);
  assert.equal(media[0].image.sha256, sha256(draft.image));

  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, media[0].id);
  assert.equal(row.container_id, media[0].containerId);
  assert.equal(row.permalink, media[0].permalink);
  assert.equal(row.publish_claim, null);
  assert.equal(row.claim_expires_at, null);
  assert.equal(row.last_error, null);
  assert.equal(row.publish_attempts, 1);

  const logs = await p.logs(draft.id);
  assert.deepEqual(
    logs.map((l) => `${l.step} ${l.outcome}`),
    ["claim ok", "container ok", "status ok", "publish ok", "permalink ok"],
  );
  assert.ok(logs.every((l) => l.attempt === 1));
  assert.equal(logs[1].container_id, row.container_id);
  assert.equal(logs[3].media_id, row.media_id);
  assert.ok(logs[1].duration_ms >= 0 && logs[3].duration_ms >= 0);
  assertNoSecret(JSON.stringify(logs), [p.sim.token], "publish_logs");
  // The same log, as GET /api/v1/drafts/{id} shows it.
  const shown = await p.pipeline.request("GET", `/api/v1/drafts/${draft.id}`);
  assert.equal(shown.status, 200, shown.text);
  assert.deepEqual(
    shown.json.publishLog.map((l) => `${l.attempt} ${l.step} ${l.outcome}`),
    ["1 claim ok", "1 container ok", "1 status ok", "1 publish ok", "1 permalink ok"],
  );
  assert.equal(shown.json.publishLog[3].mediaId, row.media_id);
  assertNoSecret(shown.text, [p.sim.token], "the draft view");
  assert.deepEqual(p.sent("publish-queue", draft.id), [], "a published draft queued another message");
  assert.deepEqual(p.sent("failed-queue", draft.id), []);

  // Metrics: the queue latency of the message, and one publish attempt.
  await p.pipeline.eventually(() => p.points(draft.id, "publish_attempt").length === 1, { what: "a publish_attempt point" });
  const [attempt] = p.points(draft.id, "publish_attempt");
  assert.deepEqual(attempt.blobs, ["publish_attempt", "published", ""]);
  assert.equal(attempt.doubles[0], 1);
  assert.equal(attempt.doubles[2], 4, "graph calls");
  await p.pipeline.eventually(() => p.points(draft.id, "queue_message").length === 1, { what: "a queue_message point" });
  const [queued] = p.points(draft.id, "queue_message");
  assert.deepEqual(queued.blobs, ["queue_message", "publish-queue", "publish", "published"]);
  assert.ok(queued.doubles[0] >= 0);

  // The trace: a publish run with a child per Graph call, without the token.
  const runs = await p.pipeline.eventually(
    () => {
      const runs = langsmith.runs();
      return runs.some((run) => run.name === "publish" && run.inputs?.draftId === draft.id) ? runs : null;
    },
    { what: "the publish trace" },
  );
  const root = runs.find((run) => run.name === "publish" && run.inputs?.draftId === draft.id);
  const children = runs.filter((run) => run.parent_run_id === root.id).map((run) => run.name);
  assert.deepEqual(children, ["create_container", "container_status", "media_publish", "permalink"]);
  assertNoSecret(JSON.stringify(runs), [p.sim.token, LANGSMITH_KEY], "the trace");
});

test("the same message delivered twice, in one batch and in two concurrent batches, publishes exactly once", async () => {
  const [first, second] = await p.approvedDrafts(2);
  // In one batch: both deliveries run at once; one claims, the other steps aside.
  const one = await p.publish([message(first.id), message(first.id)]);
  assert.deepEqual(one.outcomes, ["acked", "acked"]);
  // A draft delivered twice in one batch makes its container only under its claim: one.
  assert.equal(p.calls("container").length, 1, "one container for a duplicate in one batch");
  // In two batches at once, as two consumer invocations would (max_concurrency = 1 rules it
  // out when deployed). Each may make its container while its claim is written; only the
  // claim's is sent, the other is never published and expires.
  const [a, b] = await Promise.all([p.publish([message(second.id)]), p.publish([message(second.id)])]);
  assert.deepEqual([...a.outcomes, ...b.outcomes], ["acked", "acked"]);
  const containers = p.calls("container").length - 1;
  assert.ok(containers >= 1 && containers <= 2, `${containers} containers for the second draft`);

  assert.equal(p.calls("publish").length, 2, "one media_publish per draft");
  assert.equal(p.media().length, 2);
  for (const draft of [first, second]) {
    const row = await p.row(draft.id);
    assert.equal(row.status, "published");
    const steps = await p.steps(draft.id);
    assert.equal(steps.filter((s) => s === "claim ok").length, 1, steps.join(", "));
    assert.equal(steps.filter((s) => s === "claim skipped").length, 1, steps.join(", "));
    // The delivery that stepped aside queued nothing: duplicates never multiply the work (a
    // holder that dies is the scheduler's to recover once its lease lapsed).
    assert.deepEqual(p.sent("publish-queue", draft.id), []);
  }
  assert.equal(p.calls("publish").length, 2);
  // And a late duplicate of a published draft is skipped without a Graph call.
  const before = p.calls().length;
  assert.deepEqual((await p.publish([message(first.id, { attempt: 2, action: "retry" })])).outcomes, ["acked"]);
  assert.equal(p.calls().length, before);
  assert.equal((await p.steps(first.id)).at(-1), "claim skipped");
});

test("a container still IN_PROGRESS is not waited for: the same attempt is queued again after a delay, then published", async () => {
  p.sim.control.configure({ finishAfterReads: 2 });
  const draft = await p.approvedDraft();
  assert.deepEqual((await p.publish([message(draft.id)])).outcomes, ["acked"]);
  assert.deepEqual(ops(), ["container", "status"]);
  let row = await p.row(draft.id);
  assert.equal(row.status, "approved", "the claim is released while Meta processes the image");
  assert.equal(row.publish_claim, null);
  const containerId = row.container_id;
  assert.ok(containerId, "the container id is stored at once");
  const [poll] = p.sent("publish-queue", draft.id);
  assert.equal(poll.body.attempt, 1, "waiting for a container uses up no attempt");
  assert.equal(poll.body.action, "publish");
  assert.equal(poll.options.delaySeconds, Number(SETTINGS.PUBLISH_POLL_SECONDS));

  // The next delivery reads the status of the same container (no second container).
  assert.deepEqual((await p.publish([poll.body])).outcomes, ["acked"]);
  const [poll2] = p.sent("publish-queue", draft.id).slice(1);
  assert.deepEqual((await p.publish([poll2.body])).outcomes, ["acked"]);
  assert.deepEqual(ops(), ["container", "status", "status", "status", "publish", "permalink"]);
  row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.container_id, containerId);
  assert.deepEqual(await p.steps(draft.id), [
    "claim ok",
    "container ok",
    "status ok",
    "wait retry",
    "claim ok",
    "status ok",
    "wait retry",
    "claim ok",
    "status ok",
    "publish ok",
    "permalink ok",
  ]);
  // Polls are counted on the draft, not as attempts.
  row = await p.row(draft.id);
  assert.equal(row.publish_attempts, 1);
});

test("transient errors retry with the backoff: attempt + 1, the claim released with the reason", async () => {
  const cases = [
    { fault: { op: "container", code: 2, message: "An unexpected error has occurred." }, step: "container", cls: "transient", code: 2 },
    { fault: { op: "container", code: -1, subcode: 2207001, message: "Server error" }, step: "container", cls: "transient", code: -1, subcode: 2207001 },
    { fault: { op: "container", kind: "raw", status: 502, body: "<html>Bad gateway</html>" }, step: "container", cls: "unavailable" },
    { fault: { op: "container", kind: "hang" }, step: "container", cls: "no_answer" },
    { fault: { op: "status", code: 1, message: "An unknown error occurred" }, step: "status", cls: "transient", code: 1 },
  ];
  for (const [i, { fault, step, cls, code, subcode }] of cases.entries()) {
    p.resetSim();
    // Attempts count per approval, on the draft: this one has spent attempt - 1.
    const attempt = 1 + (i % 3);
    const draft = await p.approvedDraft({ columns: { publish_attempts: attempt - 1 } });
    p.sim.control.fault(fault);
    const { outcomes } = await p.publish([message(draft.id, { attempt, action: attempt === 1 ? "publish" : "retry" })]);
    assert.deepEqual(outcomes, ["acked"], cls);
    const row = await p.row(draft.id);
    assert.equal(row.status, "approved", cls);
    assert.equal(row.publish_claim, null);
    assert.match(row.last_error, new RegExp(`^attempt ${attempt} of 5 failed: `), cls);
    assert.equal(row.publish_attempts, attempt, "the failed attempt is spent");
    assert.equal(p.calls("publish").length, 0);
    const next = onlySent("publish-queue", draft.id);
    assert.equal(next.body.action, "retry");
    assert.equal(next.body.attempt, attempt + 1);
    assertBackoff(next.options.delaySeconds, attempt);
    // Stamped with the time it is due.
    const due = Date.parse(next.body.requestedAt) - Date.now();
    assert.ok(Math.abs(due - next.options.delaySeconds * 1000) < 5000, `due in ${due} ms`);
    const failedStep = (await p.logs(draft.id)).find((l) => l.step === step && l.outcome === "retry");
    assert.ok(failedStep, `${cls}: no ${step} retry row`);
    assert.equal(failedStep.error_class, cls);
    assert.equal(failedStep.error_code, code ?? null);
    assert.equal(failedStep.error_subcode, subcode ?? null);
    assert.equal(failedStep.attempt, attempt);
  }
});

test("a retried draft reuses its container: the next attempt reads its status instead of making another", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault({ op: "publish", code: 2, message: "An unexpected error has occurred." });
  await p.publish([message(draft.id)]);
  // media_publish failed temporarily: the status read that follows says FINISHED, which is
  // not yet a no (Meta may still act on the call it received), so the next attempt comes
  // once the settle time passed.
  assert.deepEqual(ops(), ["container", "status", "publish", "status"]);
  const next = onlySent("publish-queue", draft.id);
  assert.equal(next.body.attempt, 2);
  const settle = Number(SETTINGS.PUBLISH_SETTLE_SECONDS);
  assert.ok(next.options.delaySeconds >= 1 && next.options.delaySeconds <= settle, `${next.options.delaySeconds} s`);
  assert.equal((await p.row(draft.id)).publish_sent_container, p.containers()[0].id, "the intent was recorded before the call");
  await new Promise((resolve) => setTimeout(resolve, settle * 1000 + 200));
  await p.publish([next.body]);
  assert.deepEqual(ops(), ["container", "status", "publish", "status", "status", "publish", "permalink"]);
  assert.equal(p.containers().length, 1);
  assert.equal((await p.row(draft.id)).status, "published");
  assert.equal(p.media().length, 1);
});

test("refusals fail the draft at once with the reason; nothing is published and the operator is alerted once", async () => {
  const cases = [
    { fault: { op: "container", code: 36003, subcode: 2207009, message: "The aspect ratio is not supported." }, code: 36003 },
    { fault: { op: "container", code: 36001, subcode: 2207005, message: "The image format is not supported." }, code: 36001 },
    { fault: { op: "container", code: 10, message: "Application does not have permission for this action" }, code: 10 },
    { fault: { op: "publish", code: 25, subcode: 2207050, message: "The Instagram account is restricted." }, code: 25 },
  ];
  for (const { fault, code } of cases) {
    p.resetSim();
    const draft = await p.approvedDraft();
    p.sim.control.fault(fault);
    assert.deepEqual((await p.publish([message(draft.id)])).outcomes, ["acked"]);
    const row = await p.row(draft.id);
    assert.equal(row.status, "failed", `code ${code}`);
    assert.match(row.last_error, new RegExp(`^publishing gave up at attempt 1: Instagram refused it \\(the Graph API refused the request \\(code ${code}`));
    assert.equal(row.publish_claim, null);
    assert.equal(p.media().length, 0);
    assert.deepEqual(p.sent("publish-queue", draft.id), [], "a refused post was retried");
    // Written failed first, then the operator told once; the failed queue is only for an
    // alert that could not be sent.
    assert.deepEqual(p.sent("failed-queue", draft.id), []);
    const alerts = p.webhook.calls().filter((a) => a.json.text.includes(draft.id));
    assert.equal(alerts.length, 1);
    assert.match(alerts[0].json.text, /failed/);
    const giveUp = (await p.logs(draft.id)).at(-1);
    assert.equal(giveUp.step, "give_up");
    assert.equal(giveUp.outcome, "failed");
    assert.equal(giveUp.error_class, "permanent");
    assert.equal(giveUp.error_code, code);
    assert.equal(giveUp.message, row.last_error);
  }
});

test("a container whose status is ERROR with a refusal subcode fails; EXPIRED gets a new container", async () => {
  // A container left from an earlier attempt (a retry keeps the container id).
  const expired = await p.approvedDraft();
  const refused = await p.approvedDraft();
  for (const draft of [expired, refused]) {
    p.sim.control.fault({ op: "publish", code: 2 });
    await p.publish([message(draft.id)]);
  }
  const [c1, c2] = p.containers().map((c) => c.id);
  p.sim.control.setContainerStatus(c1, "EXPIRED");
  p.sim.control.setContainerStatus(c2, "ERROR", { subcode: 2207009 });
  const before = p.calls().length;
  await p.publish([message(expired.id, { attempt: 2, action: "retry" })]);
  assert.deepEqual(p.calls().slice(before).map((c) => c.op), ["status", "container", "status", "publish", "permalink"]);
  const row = await p.row(expired.id);
  assert.equal(row.status, "published");
  assert.notEqual(row.container_id, c1, "the expired container is replaced");
  assert.equal(p.media().length, 1);

  await p.publish([message(refused.id, { attempt: 2, action: "retry" })]);
  const failed = await p.row(refused.id);
  assert.equal(failed.status, "failed");
  assert.match(failed.last_error, /2207009/);
  assert.equal(p.media().length, 1);
});

test("throttling waits without spending an attempt: a 429's own wait wins over the backoff; the Business Use Case header's wait too", async () => {
  for (const [fault, wait] of [
    [{ op: "container", kind: "rate_limit", retryAfter: 120 }, 120],
    [{ op: "status", kind: "rate_limit", status: 400, code: 80002, regainAccessMinutes: 3 }, 180],
    [{ op: "container", kind: "rate_limit", bare: true, retryAfter: 7 }, 7],
  ]) {
    p.resetSim();
    const draft = await p.approvedDraft();
    p.sim.control.fault(fault);
    await p.publish([message(draft.id)]);
    const next = onlySent("publish-queue", draft.id);
    assert.equal(next.body.attempt, 1, "throttling spent an attempt");
    assert.equal(next.options.delaySeconds, wait);
    const row = await p.row(draft.id);
    assert.equal(row.status, "approved");
    assert.equal(row.publish_attempts, 0, "throttling spent an attempt");
    assert.ok(row.throttled_since, "the throttling's start is kept, to bound it");
    assert.equal((await p.logs(draft.id)).find((l) => l.outcome === "retry").error_class, "rate_limited");
  }
  // Without a wait of its own, throttling backs off by how long it has lasted, attempts
  // untouched.
  const draft = await p.approvedDraft({ columns: { publish_attempts: 2 } });
  p.sim.control.fault({ op: "container", code: 4, message: "Application request limit reached" });
  await p.publish([message(draft.id, { attempt: 3, action: "retry" })]);
  const next = onlySent("publish-queue", draft.id);
  assertBackoff(next.options.delaySeconds, 1);
  assert.equal(next.body.attempt, 3);
  assert.equal((await p.row(draft.id)).publish_attempts, 2);
});

test("the publishing quota waits for its window without using up attempts, then publishes the same container", async () => {
  // At the last attempt of this approval.
  const draft = await p.approvedDraft({ columns: { publish_attempts: 4 } });
  p.sim.control.fault({ kind: "quota_exhausted" });
  let body = message(draft.id, { attempt: 5, action: "retry" });
  // Even at the last attempt, and again and again: waiting is not failing.
  for (let round = 0; round < 3; round += 1) {
    assert.deepEqual((await p.publish([body])).outcomes, ["acked"]);
    const sent = p.sent("publish-queue", draft.id);
    const next = sent[sent.length - 1];
    assert.equal(sent.length, round + 1);
    assert.equal(next.body.attempt, 5, "the quota used up an attempt");
    assert.equal(next.options.delaySeconds, Number(SETTINGS.PUBLISH_QUOTA_WAIT_SECONDS));
    const row = await p.row(draft.id);
    assert.equal(row.status, "approved");
    assert.match(row.last_error, /2207042/);
    body = next.body;
  }
  assert.equal(p.containers().length, 1);
  assert.equal(p.media().length, 0);
  assert.deepEqual(p.sent("failed-queue", draft.id), []);

  p.sim.control.clearFaults();
  await p.publish([body]);
  assert.equal((await p.row(draft.id)).status, "published");
  assert.equal(p.containers().length, 1, "the waiting container is published");
  assert.equal(p.media().length, 1);
});

test("an expired token fails every draft it meets and alerts the operator once; a publish that works clears it", async () => {
  p.sim.control.fault({ kind: "token_expired", subcode: 463 });
  const drafts = await p.approvedDrafts(4);
  const { outcomes } = await p.publish(drafts.map((d) => message(d.id)));
  assert.deepEqual(outcomes, ["acked", "acked", "acked", "acked"]);
  for (const draft of drafts) {
    const row = await p.row(draft.id);
    assert.equal(row.status, "failed");
    assert.match(row.last_error, /access token is expired or invalid \(code 190, subcode 463\)/);
    assert.deepEqual(p.sent("failed-queue", draft.id), [], "the alert went out: nothing for the failed queue");
  }
  assert.equal(p.calls("container").length, 4);
  assert.equal(p.calls("publish").length, 0);

  // Four drafts failed at once; the operator hears once.
  const alerts = p.webhook.calls();
  assert.equal(alerts.length, 1, JSON.stringify(alerts.map((a) => a.json)));
  assert.match(alerts[0].json.text, /access token is expired or invalid/);
  assert.deepEqual(Object.keys(alerts[0].json), ["text"]);
  assertNoSecret(alerts[0].text, [p.sim.token], "the alert");
  const record = await p.alertRow(`token_invalid:${p.sim.userId}`);
  assert.equal(record.count, 4);

  // A new token works: the next publish clears the alert, so the next expiry alerts again.
  p.sim.control.clearFaults();
  const fresh = await p.approvedDraft();
  await p.publish([message(fresh.id)]);
  assert.equal((await p.row(fresh.id)).status, "published");
  assert.equal(await p.alertRow(`token_invalid:${p.sim.userId}`), null);
  p.sim.control.fault({ kind: "token_expired" });
  const later = await p.approvedDraft();
  await p.publish([message(later.id)]);
  assert.equal((await p.row(later.id)).status, "failed");
  assert.equal(p.webhook.calls().length, 2);
});

test("a lost media_publish answer is reconciled from the container status: exactly one post, never a second publish", async () => {
  for (const mode of ["destroy", "500", "hang"]) {
    p.resetSim();
    const draft = await p.approvedDraft();
    p.sim.control.fault({ op: "publish", kind: "lost_answer", mode });
    assert.deepEqual((await p.publish([message(draft.id)])).outcomes, ["acked"], mode);
    const media = p.media();
    assert.equal(media.length, 1, mode);
    assert.equal(p.calls("publish").length, 1, `${mode}: published again`);
    assert.deepEqual(ops(), ["container", "status", "publish", "status", "media", "permalink"], mode);
    const row = await p.row(draft.id);
    assert.equal(row.status, "published", mode);
    assert.equal(row.media_id, media[0].id, mode);
    assert.equal(row.permalink, media[0].permalink, mode);
    const steps = await p.steps(draft.id);
    assert.deepEqual(steps.slice(3), ["publish retry", "status ok", "reconcile ok", "permalink ok"], mode);
    // Delivered again (at least once), nothing more happens.
    await p.publish([message(draft.id)]);
    assert.equal(p.calls("publish").length, 1, mode);
  }
});

test("a published container whose post is not among the recent media: published, its media id left empty, never a second publish", async () => {
  p.resetSim();
  const draft = await p.approvedDraft();
  p.sim.control.fault([
    { op: "publish", kind: "lost_answer", mode: "destroy" },
    { op: "media", kind: "raw", status: 200, contentType: "application/json", body: JSON.stringify({ data: [] }) },
  ]);
  assert.deepEqual((await p.publish([message(draft.id)])).outcomes, ["acked"]);
  assert.equal(p.media().length, 1, "the post is live");
  assert.equal(p.calls("publish").length, 1, "published again");
  assert.deepEqual(ops(), ["container", "status", "publish", "status", "media"], "no permalink without a media id");
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, null, "an unknown media id is left empty, not recorded as text");
  assert.equal(row.permalink, null);
  const logs = await p.logs(draft.id);
  const reconciled = logs.find((log) => /no recent post matches it/.test(log.message ?? ""));
  assert.ok(reconciled, JSON.stringify(logs.map((log) => log.message)));
  assert.equal(reconciled.media_id, null);
  assert.equal(logs.at(-1).message, "the post is live; without its media id there is no permalink");
  // Delivered again (at least once), nothing more happens.
  await p.publish([message(draft.id)]);
  assert.equal(p.calls("publish").length, 1);
});

test("a consumer that died after media_publish: once its lease lapsed, the next delivery reconciles, with no second publish", async () => {
  // Publish a container directly (the dead consumer's media_publish), then leave the draft
  // as that consumer left it: publishing, its container id stored, a lapsed lease.
  const draft = await p.approvedDraft();
  const auth = { authorization: `Bearer ${p.sim.token}`, "content-type": "application/x-www-form-urlencoded" };
  const base = `${p.sim.url}/${p.sim.apiVersion}/${p.sim.userId}`;
  const created = await fetch(`${base}/media`, {
    method: "POST",
    headers: auth,
    body: new URLSearchParams({ image_url: `${p.relay.url}/media/${draft.key}`, caption: draft.instagramCaption, alt_text: draft.altText }),
  }).then((r) => r.json());
  const published = await fetch(`${base}/media_publish`, {
    method: "POST",
    headers: auth,
    body: new URLSearchParams({ creation_id: created.id }),
  }).then((r) => r.json());
  assert.ok(published.id);
  const live = await p.approvedDraft();
  const lapsed = rfc3339(new Date(Date.now() - 5_000));
  const future = rfc3339(new Date(Date.now() + 30_000));
  for (const [id, lease] of [[draft.id, lapsed], [live.id, future]]) {
    await p.db
      .prepare("UPDATE drafts SET status = 'publishing', publish_claim = 'dead-consumer', claim_expires_at = ?2, container_id = ?3, publish_attempts = 1 WHERE id = ?1")
      .bind(id, lease, id === draft.id ? created.id : null)
      .run();
  }
  const before = p.calls().length;

  // A live lease: the delivery steps aside and queues nothing (should the holder be dead,
  // the scheduler's recovery queues the draft once the lease lapsed).
  assert.deepEqual((await p.publish([message(live.id)])).outcomes, ["acked"]);
  assert.equal(p.calls().length, before, "a live claim was disturbed");
  assert.deepEqual(p.sent("publish-queue", live.id), []);
  assert.equal((await p.row(live.id)).publish_claim, "dead-consumer");

  // A lapsed lease: claimed again; the status says PUBLISHED, so no media_publish.
  assert.deepEqual((await p.publish([message(draft.id)])).outcomes, ["acked"]);
  assert.deepEqual(p.calls().slice(before).map((c) => c.op), ["status", "media", "permalink"]);
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, published.id);
  assert.equal(row.publish_attempts, 2);
  assert.equal(p.calls("publish").length, 1);
  assert.equal(p.media().length, 1);
  assert.deepEqual(await p.steps(draft.id), ["claim ok", "status ok", "reconcile ok", "permalink ok"]);
  assert.equal((await p.logs(draft.id))[1].message, "PUBLISHED");
  assert.match((await p.logs(draft.id))[0].message, /lease lapsed/);

  // A consumer that died after storing the media id: only the permalink is left to do.
  const stored = await p.approvedDraft();
  p.resetSim();
  await p.db
    .prepare("UPDATE drafts SET status = 'publishing', publish_claim = 'dead', claim_expires_at = ?2, container_id = 'c-1', media_id = 'm-1' WHERE id = ?1")
    .bind(stored.id, lapsed)
    .run();
  await p.publish([message(stored.id)]);
  assert.deepEqual(ops(), ["permalink"]);
  const storedRow = await p.row(stored.id);
  assert.equal(storedRow.status, "published");
  assert.equal(storedRow.media_id, "m-1");
  assert.equal(storedRow.permalink, null, "the permalink read failed, the post stays published");
});

test("a failed permalink read never marks a live post failed", async () => {
  const draft = await p.approvedDraft();
  p.sim.control.fault({ op: "permalink", code: 2, message: "An unexpected error has occurred." });
  await p.publish([message(draft.id)]);
  const row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.permalink, null);
  assert.equal(row.media_id, p.media()[0].id);
  const last = (await p.logs(draft.id)).at(-1);
  assert.deepEqual([last.step, last.outcome, last.error_class], ["permalink", "failed", "transient"]);
  assert.match(last.message, /the post is live/);
});

test("poison and stray messages: malformed ones are dead-lettered, others skipped without a Graph call", async () => {
  const draft = await p.approvedDraft();
  const bodies = [
    { ...message(draft.id), version: 2 },
    "publish",
    message(randomUUID()),
    message(draft.id, { action: "generate_image" }),
  ];
  const { outcomes, messages } = await p.publish(bodies);
  assert.deepEqual(outcomes, ["retried", "retried", "acked", "acked"]);
  for (const delivered of messages.slice(0, 2)) {
    const letter = await p.db.prepare("SELECT * FROM dead_letters WHERE message_id = ?1").bind(delivered.id).first();
    assert.ok(letter, "a malformed message was not recorded");
    assert.equal(letter.queue, "publish-queue");
  }
  assert.equal(p.calls().length, 0);
  assert.equal((await p.row(draft.id)).status, "approved");

  // Drafts that are not approved are left alone.
  for (const status of ["draft", "failed", "published"]) {
    const other = await p.approvedDraft({ columns: { status } });
    assert.deepEqual((await p.publish([message(other.id)])).outcomes, ["acked"]);
    assert.equal((await p.row(other.id)).status, status);
  }
  assert.equal(p.calls().length, 0);
});

test("never more than 5 drafts in flight: a batch of 12 against a slow Graph API", async () => {
  const drafts = await p.approvedDrafts(12);
  p.sim.control.fault({ op: "any", kind: "latency", delayMs: 150, times: 1000 });
  const { outcomes } = await p.publish(drafts.map((d) => message(d.id)));
  assert.deepEqual(new Set(outcomes), new Set(["acked"]));
  // Every call is an interval at the simulator; a draft's calls never overlap each other.
  const events = p.calls().flatMap((call) => [
    [call.at, 1],
    [call.at + call.durationMs, -1],
  ]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let most = 0;
  for (const [, delta] of events) {
    now += delta;
    most = Math.max(most, now);
  }
  assert.equal(most, 5, `at most ${most} calls were in flight at once`);
  for (const draft of drafts) assert.equal((await p.row(draft.id)).status, "published");
});

test("a post whose publish outcome cannot be found out is never given up on: it waits, even past its last attempt and with a dead token", async () => {
  const draft = await p.approvedDraft({ columns: { publish_attempts: 4 } });
  // The last attempt: media_publish's answer is lost and the status read after it fails too
  // (the first status read, before media_publish, only takes a harmless latency fault).
  p.sim.control.fault([
    { op: "publish", kind: "lost_answer", mode: "destroy" },
    { op: "status", kind: "latency", delayMs: 1 },
    { op: "status", code: 2, message: "An unexpected error has occurred." },
  ]);
  await p.publish([message(draft.id, { attempt: 5, action: "retry" })]);
  assert.deepEqual(ops(), ["container", "status", "publish", "status"]);
  assert.equal(p.media().length, 1, "the post is live");
  let row = await p.row(draft.id);
  assert.equal(row.status, "approved", "a post that may be live was given up on");
  const wait = onlySent("publish-queue", draft.id);
  assert.equal(wait.body.attempt, 5, "waiting uses up no attempt");
  assertBackoff(wait.options.delaySeconds, 1);
  assert.deepEqual(p.sent("failed-queue", draft.id), []);
  assert.ok(row.unresolved_since, "the draft is unresolved");
  assert.equal(p.webhook.calls().length, 0, "a first unreadable status is not yet the operator's");

  // The token dies meanwhile: the status still cannot be read, so it waits again, and the
  // operator hears at once that the draft needs a look, and why.
  p.sim.control.fault({ kind: "token_expired" });
  await p.publish([wait.body]);
  row = await p.row(draft.id);
  assert.equal(row.status, "approved");
  const again = p.sent("publish-queue", draft.id)[1];
  assert.equal(again.body.attempt, 5);
  assert.equal(p.webhook.calls().length, 1);
  assert.match(p.webhook.calls()[0].json.text, /needs a look/);
  assert.match(p.webhook.calls()[0].json.text, /access token is expired or invalid/);
  assert.match(p.webhook.calls()[0].json.text, /not marked failed/);

  // With a working token the status says PUBLISHED: published, and never published twice.
  p.sim.control.clearFaults();
  await p.publish([again.body]);
  row = await p.row(draft.id);
  assert.equal(row.status, "published");
  assert.equal(row.media_id, p.media()[0].id);
  assert.equal(p.calls("publish").length, 1);
  assert.equal(p.media().length, 1);
});

test("generate, approve, publish: Instagram receives exactly the approved revision and its image", async () => {
  const created = await p.pipeline.generate({ brief: "Autumn menu launch at our cafe", language: "en" });
  assert.equal(created.status, 201, created.text);
  const id = created.json.draftId;
  const ready = await p.pipeline.eventually(
    async () => {
      const { json } = await p.pipeline.request("GET", `/api/v1/drafts/${id}`);
      return json?.image?.status === "ready" ? json : null;
    },
    { what: "the image to be ready" },
  );
  const approved = await p.pipeline.request("POST", `/api/v1/drafts/${id}/approve`, {
    body: { revision: ready.revision },
    token: REVIEWER.token,
  });
  assert.equal(approved.status, 200, approved.text);
  // The api queued the publish message; the (idle) publish consumer is handed it.
  const [queued] = p.sent("publish-queue", id);
  assert.equal(queued.worker, "api");
  assert.deepEqual([queued.body.action, queued.body.attempt], ["publish", 1]);
  assert.deepEqual((await p.publish([queued.body])).outcomes, ["acked"]);

  const row = await p.row(id);
  assert.equal(row.status, "published");
  const [container] = p.calls("container");
  assert.equal(container.body.caption, instagramCaption(row.approved_caption, JSON.parse(row.approved_hashtags)));
  assert.equal(container.body.caption, ready.instagramCaption);
  assert.equal(container.body.alt_text, ready.altText);
  assert.equal(container.body.image_url, `${p.relay.url}/media/${row.approved_image_key}`);
  const object = await (await p.bucket()).get(row.approved_image_key);
  assert.equal(container.imageFetch.sha256, sha256(new Uint8Array(await object.arrayBuffer())));
  assert.equal(p.media().length, 1);
  assert.equal(row.media_id, p.media()[0].id);
});
