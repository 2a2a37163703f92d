// Clients' approval links. On a client's page (/c/...): approve a post, ask for changes or
// comment, through the link's own routes. On the reviewers' links page: make a link (shown
// once) and revoke one. All text goes into the page through textContent.
"use strict";

(() => {
  const post = (path, body) => window.reviewApi.call("POST", path, body);
  const problemText = (json, fallback) =>
    json?.error
      ? [json.error.message, ...(json.error.problems ?? []).map((p) => `${p.path}: ${p.reason}`)].join(" ")
      : fallback;

  // The client's page.
  const linkData = document.getElementById("client-link");
  if (linkData) {
    const { secret } = JSON.parse(linkData.textContent);
    for (const article of document.querySelectorAll("article.client-draft")) {
      const id = article.dataset.draft;
      const revision = Number(article.dataset.revision);
      const note = article.querySelector("textarea.client-note");
      const result = article.querySelector("[data-client-result]");
      for (const button of article.querySelectorAll("button[data-client]")) {
        button.addEventListener("click", async () => {
          const kind = button.dataset.client;
          const text = note.value.trim();
          if (kind !== "approve" && !text) {
            result.textContent = "Write what you would like changed, or your comment, first.";
            note.focus();
            return;
          }
          button.disabled = true;
          const answer =
            kind === "approve"
              ? await post(`/c/${secret}/drafts/${id}/approve`, text ? { revision, comment: text } : { revision })
              : await post(`/c/${secret}/drafts/${id}/comment`, {
                  comment: kind === "changes" ? `Asked for changes: ${text}` : text,
                });
          button.disabled = false;
          if (answer.status === 200 || answer.status === 201) {
            if (kind === "approve") {
              location.reload();
            } else {
              note.value = "";
              result.textContent = kind === "changes" ? "Sent: the team will change it and ask you again." : "Comment sent.";
            }
          } else if (answer.status === 409) {
            result.textContent = "This post changed while you were looking at it. Reload the page to see it as it is now.";
          } else {
            result.textContent = problemText(answer.json, `Something went wrong (${answer.status}).`);
          }
        });
      }
    }
  }

  // The reviewers' links page.
  const form = document.getElementById("new-link");
  if (form) {
    const result = document.getElementById("new-link-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const draftIds = [...form.querySelectorAll('input[name="draftIds"]:checked')].map((box) => box.value);
      const days = Number(form.elements.namedItem("expiresInDays").value);
      const answer = await post("/api/v1/client-links", {
        clientName: form.elements.namedItem("clientName").value,
        draftIds,
        expiresInDays: days,
      });
      if (answer.status === 201) {
        result.textContent = "";
        document.getElementById("new-link-made").hidden = false;
        const url = document.getElementById("new-link-url");
        url.value = answer.json.url;
        url.select();
        // The new link in the list, without its secret, as a reload would show it.
        const item = document.createElement("li");
        const expires = new Date(answer.json.expiresAt).toLocaleString();
        item.textContent = `${answer.json.clientName} · ${answer.json.draftIds.length} drafts · until ${expires} (made just now)`;
        document.querySelector("ul.links").prepend(item);
        document.getElementById("no-links")?.remove();
      } else {
        result.textContent = problemText(answer.json, `The link was not made (${answer.status}).`);
      }
    });
    for (const button of document.querySelectorAll("button[data-revoke]")) {
      button.addEventListener("click", async () => {
        if (!confirm("Revoke this link? It stops working at once.")) return;
        const answer = await post(`/api/v1/client-links/${button.dataset.revoke}/revoke`, {});
        if (answer.status === 200) location.reload();
        else result.textContent = problemText(answer.json, `Not revoked (${answer.status}).`);
      });
    }
  }
})();
