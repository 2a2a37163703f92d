// The voice page: each account's form is saved through PUT /api/v1/accounts/{id}/voice with
// the revision it was rendered at; problems are shown at their field, a conflict says who
// saved meanwhile. All text goes into the page through textContent.
"use strict";

(() => {
  const tagsOf = (value) =>
    value
      .split(/[\s,、]+/u)
      .map((tag) => tag.replace(/^[#＃]/u, ""))
      .filter(Boolean);
  const linesOf = (value) => value.split("\n").map((line) => line.trim()).filter(Boolean);

  for (const form of document.querySelectorAll("form.voice-form")) {
    const saved = form.querySelector("[data-saved]");
    const problems = () => form.querySelectorAll("[data-problem]");
    const field = (name) => form.elements.namedItem(name);

    function show(list) {
      for (const element of problems()) element.textContent = "";
      for (const { path, reason } of list) {
        const element =
          form.querySelector(`[data-problem="${CSS.escape(path)}"]`) ??
          form.querySelector(`[data-problem="${CSS.escape(path.replace(/\[\d+\]$/u, ""))}"]`) ??
          form.querySelector('[data-problem=""]');
        element.textContent = element.textContent ? `${element.textContent} ${reason}` : reason;
      }
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const samples = [...form.querySelectorAll('textarea[name="sampleCaptions"]')]
        .map((area) => area.value.trim())
        .filter(Boolean);
      const body = {
        revision: Number(form.dataset.revision),
        language: field("language").value.trim() || null,
        tone: field("tone").value,
        alwaysHashtags: tagsOf(field("alwaysHashtags").value),
        neverHashtags: tagsOf(field("neverHashtags").value),
        avoidWords: linesOf(field("avoidWords").value),
        sampleCaptions: samples,
      };
      saved.textContent = "Saving…";
      const { status, json } = await window.reviewApi.call(
        "PUT",
        `/api/v1/accounts/${encodeURIComponent(form.dataset.account)}/voice`,
        body,
      );
      if (status === 0) {
        saved.textContent = "";
        show([{ path: "", reason: "The voice could not be sent; check the connection and save again." }]);
        return;
      }
      if (status === 200) {
        form.dataset.revision = String(json.revision);
        show([]);
        saved.textContent = `Saved (revision ${json.revision}).`;
        return;
      }
      saved.textContent = "";
      const error = json?.error ?? {};
      if (status === 409 && error.current) {
        const by = error.current.updatedBy ? ` by ${error.current.updatedBy}` : "";
        show([{ path: "", reason: `Someone saved this voice meanwhile${by}. Reload the page to see it, then make your change again.` }]);
      } else if (status === 401) {
        show([{ path: "", reason: window.reviewApi.failure(status, json, "then save again") }]);
      } else {
        show(error.problems ?? [{ path: "", reason: error.message ?? `The voice was not saved (HTTP ${status}).` }]);
      }
    });
  }
})();
