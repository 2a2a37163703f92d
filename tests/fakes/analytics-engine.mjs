// A fake of Analytics Engine's SQL API (`POST /client/v4/accounts/{account}/analytics_engine/sql`,
// the SQL text as the body, an API token as the bearer token), answering the charts page's two
// queries in the shape the real API gives with `FORMAT JSON`: `{meta, data, rows}`, 64-bit
// integers as strings. The figures it answers are set by the test; it records every query, and
// answers a wrong token, an unknown account or `refuse(status)` as Cloudflare does.
import { startFakeServer } from "./server.mjs";

export async function startFakeAnalyticsEngine({ accountId = "0123456789abcdef0123456789abcdef", token = "fake-analytics-token-7d1c9a4e2b" } = {}) {
  let figures = { failures: [], durations: [] };
  let refusal = null;
  const server = await startFakeServer("analytics-engine", async (request) => {
    const path = `/client/v4/accounts/${accountId}/analytics_engine/sql`;
    const error = (status, code, message) => ({ status, body: { success: false, errors: [{ code, message }], messages: [], result: null } });
    if (request.method !== "POST" || request.path !== path) return error(404, 7003, "Could not route to the requested URL");
    if (request.headers.authorization !== `Bearer ${token}`) return error(403, 10000, "Authentication error");
    if (refusal !== null) return error(refusal, 10000, "the fake was told to refuse");
    const sql = request.text;
    if (!/FROM instagram_pipeline\b/.test(sql) || !/blob1 = 'publish_attempt'/.test(sql) || !/FORMAT JSON$/.test(sql.trim())) {
      return { status: 422, contentType: "text/plain", body: `unexpected query: ${sql}` };
    }
    if (/blob2 IN \('retrying', 'failed'\)/.test(sql)) {
      const data = figures.failures.map(({ class: name, attempts }) => ({ class: name, attempts: String(attempts) }));
      return { status: 200, body: { meta: [{ name: "class", type: "String" }, { name: "attempts", type: "UInt64" }], data, rows: data.length } };
    }
    if (/SUM\(_sample_interval \* double2\)/.test(sql)) {
      const data = figures.durations.map(({ day, averageMs, attempts }) => ({ day: `${day} 00:00:00`, average_ms: averageMs, attempts: String(attempts) }));
      return { status: 200, body: { meta: [{ name: "day", type: "DateTime" }, { name: "average_ms", type: "Float64" }, { name: "attempts", type: "UInt64" }], data, rows: data.length } };
    }
    return { status: 422, contentType: "text/plain", body: `unexpected query: ${sql}` };
  });
  return {
    ...server,
    accountId,
    token,
    /** The base URL to configure as `ANALYTICS_SQL_BASE_URL`. */
    baseUrl: `${server.url}/client/v4`,
    /** The figures the next queries answer: `{failures: [{class, attempts}], durations: [{day, averageMs, attempts}]}`. */
    answer(next) {
      figures = { failures: [], durations: [], ...next };
    },
    /** Refuses every query with `status` (null: answers again). */
    refuse(status) {
      refusal = status;
    },
    /** The SQL of every query received. */
    queries() {
      return server.requests.map((r) => r.text);
    },
  };
}
