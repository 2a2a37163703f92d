// A local-only front Worker for scripts/dev, never deployed. `wrangler dev` with several configs
// serves only the first one on its port, and its ways to fire a Cron Trigger by hand reach only
// that first Worker; the scheduler's Cron Trigger is publish-consumer's. So scripts/dev puts
// this gateway first: it hands every request to the api Worker unchanged (the same URL,
// method, headers and body), and answers `/__scheduled?cron=...` by running publish-consumer's
// scheduled handler, as the Cron Trigger does once deployed; scripts/dev calls it every
// minute. Its own scheduled handler (wrangler's `/cdn-cgi/handler/scheduled`) does the same.
//
// The deployed Workers still talk to each other only through queues and storage: these
// service bindings exist only in this local gateway's generated config.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/__scheduled") return env.API.fetch(request);
    const cron = url.searchParams.get("cron") ?? "* * * * *";
    const scheduledTime = new Date();
    const headers = { "content-type": "text/plain; charset=utf-8" };
    try {
      // The handler logs what it did; a failed task is logged there, not thrown.
      await env.SCHEDULER.scheduled({ cron, scheduledTime });
    } catch (error) {
      return new Response(`publish-consumer's scheduled handler failed: ${error}\n`, { status: 500, headers });
    }
    return new Response(`publish-consumer's scheduler ran for ${scheduledTime.toISOString()}; its log says what it did\n`, { headers });
  },

  async scheduled(event, env) {
    await env.SCHEDULER.scheduled({ cron: event.cron, scheduledTime: new Date(event.scheduledTime) });
  },
};
