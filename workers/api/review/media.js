// The draft page's photos: choose or drop files (each uploaded on its own, its refusal shown
// by its name), the images in order with their state, moved and removed, the carousel as
// Instagram shows it (the first image's shape frames all, dots, swipe), the "AI info" label
// and why, the post's options, and "Describe the photos". Every change goes through the JSON
// API at the revision the page shows; its answer is the draft now, announced to app.js with
// a `draft-changed` event. All text goes in through textContent.
"use strict";

(() => {
  const $ = (selector) => document.querySelector(selector);
  const { call, say, failure } = window.reviewApi;
  const section = $("#photos");
  const dataElement = document.getElementById("draft-data");
  if (!section || !dataElement) return;
  let draft = JSON.parse(dataElement.textContent).draft;
  const id = draft.draftId;
  const editable = Boolean($("#photo-files"));
  const revision = () => Number($("#revision")?.textContent ?? draft.revision);

  /** The images as the post has them: its items, or its one generated image. */
  function itemsOf(d) {
    if (Array.isArray(d.mediaItems)) return d.mediaItems;
    if (d.image?.url) return [{ id: "generated", source: "imageModel", altText: d.altText, image: { state: "ready" }, url: d.image.url }];
    return [];
  }

  function adopt(newer) {
    draft = newer;
    render();
    document.dispatchEvent(new CustomEvent("draft-changed", { detail: newer }));
  }

  // --- the carousel ------------------------------------------------------------------------

  const slides = $("#slides");
  const dots = $("#dots");
  let current = 0;

  function showSlide(index) {
    const count = slides.children.length;
    if (count === 0) return;
    current = Math.max(0, Math.min(index, count - 1));
    slides.scrollTo({ left: current * slides.clientWidth, behavior: "smooth" });
    markDot();
  }

  function markDot() {
    [...dots.children].forEach((dot, i) => dot.classList.toggle("current", i === current));
    $("#slide-prev").hidden = current === 0;
    $("#slide-next").hidden = current >= slides.children.length - 1;
  }

  slides.addEventListener("scroll", () => {
    const index = Math.round(slides.scrollLeft / Math.max(1, slides.clientWidth));
    if (index !== current) {
      current = index;
      markDot();
    }
  });
  slides.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") showSlide(current + 1);
    if (event.key === "ArrowLeft") showSlide(current - 1);
  });
  $("#slide-prev").addEventListener("click", () => showSlide(current - 1));
  $("#slide-next").addEventListener("click", () => showSlide(current + 1));

  function renderCarousel(items) {
    const shown = items.filter((item) => item.url);
    slides.replaceChildren();
    dots.replaceChildren();
    // The first image's shape is the frame of all (Instagram crops the others to it).
    const first = shown[0];
    const setFrame = (width, height) => {
      if (width > 0 && height > 0) slides.style.aspectRatio = `${width} / ${height}`;
    };
    if (first) setFrame(first.image?.width ?? 0, first.image?.height ?? 0);
    shown.forEach((item, i) => {
      const slide = document.createElement("div");
      slide.className = "slide";
      const img = document.createElement("img");
      img.src = item.url;
      img.alt = item.altText || "";
      img.loading = "lazy";
      if (i === 0 && !(first.image?.width > 0)) img.addEventListener("load", () => setFrame(img.naturalWidth, img.naturalHeight));
      slide.append(img);
      slides.append(slide);
      const dot = document.createElement("span");
      dot.className = "dot";
      dots.append(dot);
    });
    dots.hidden = shown.length < 2;
    current = Math.min(current, Math.max(0, shown.length - 1));
    slides.scrollLeft = current * slides.clientWidth;
    markDot();
    const options = draft.postOptions ?? {};
    $("#ai-label").hidden = !options.aiGenerated;
    $("#ai-label-why").textContent = options.aiGeneratedBecause ? `Shown because ${options.aiGeneratedBecause}.` : "";
  }

  // --- the list ------------------------------------------------------------------------------

  function stateWords(item) {
    switch (item.image?.state) {
      case "pending":
        return "Being fitted for Instagram…";
      case "failed":
        return `Failed: ${item.image.reason}`;
      default:
        return item.source === "uploaded" ? "Ready" : "Ready (generated image)";
    }
  }

  function renderList(items) {
    const list = $("#media-items");
    list.replaceChildren();
    items.forEach((item, i) => {
      const entry = document.createElement("li");
      entry.className = `media-item ${item.image?.state ?? "ready"}`;
      entry.dataset.id = item.id;
      const thumb = document.createElement("img");
      thumb.alt = "";
      if (item.url) thumb.src = item.url;
      const words = document.createElement("div");
      const title = document.createElement("strong");
      title.textContent = `${i + 1}. ${item.source === "uploaded" ? "Photo" : "Generated image"}`;
      const state = document.createElement("p");
      state.className = "meta";
      state.textContent = stateWords(item);
      const alt = document.createElement("p");
      alt.className = "meta item-alt";
      alt.textContent = item.altText ? `Alt text: ${item.altText}` : "No alt text yet.";
      words.append(title, state, alt);
      entry.append(thumb, words);
      if (editable && Array.isArray(draft.mediaItems)) {
        const buttons = document.createElement("div");
        buttons.className = "actions";
        const button = (label, text, action, disabled = false) => {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = text;
          b.setAttribute("aria-label", `${label} image ${i + 1}`);
          b.disabled = disabled;
          b.addEventListener("click", action);
          buttons.append(b);
        };
        const ids = items.map((it) => it.id);
        const swap = (j) => {
          const order = [...ids];
          [order[i], order[j]] = [order[j], order[i]];
          return order;
        };
        button("Move up", "↑", () => setOrder(swap(i - 1)), i === 0);
        button("Move down", "↓", () => setOrder(swap(i + 1)), i === items.length - 1);
        button("Remove", "Remove", () => setOrder(ids.filter((other) => other !== item.id)));
        entry.append(buttons);
      }
      list.append(entry);
    });
  }

  let rendered = "";
  function render() {
    const items = itemsOf(draft);
    // Unchanged images are left as they are, so a swipe in progress keeps its place.
    const shape = JSON.stringify([items, draft.postOptions, draft.revision]);
    if (shape === rendered) return;
    rendered = shape;
    renderCarousel(items);
    renderList(items);
    const pending = items.some((item) => item.image?.state === "pending");
    if (pending) waitForFitting();
  }

  async function setOrder(ids) {
    say("#photos-status", "Saving the order…");
    const { status, json } = await call("PUT", `/api/v1/drafts/${id}/images`, { revision: revision(), items: ids });
    if (status === 200) {
      say("#photos-status", "Saved.", "ok");
      adopt(json);
    } else {
      say("#photos-status", failure(status, json), "error");
      if (json?.error?.current) adopt(json.error.current);
    }
  }

  // --- uploads -------------------------------------------------------------------------------

  async function uploadAll(files) {
    const errors = $("#upload-errors");
    errors.replaceChildren();
    let added = 0;
    for (const file of files) {
      say("#photos-status", `Uploading ${file.name}…`);
      const { status, json } = await call("POST", `/api/v1/drafts/${id}/images?name=${encodeURIComponent(file.name)}`, file, file.type || "application/octet-stream");
      if (status === 201) {
        added += 1;
        adopt(json);
      } else {
        const error = document.createElement("li");
        error.textContent = failure(status, json);
        errors.append(error);
      }
    }
    say("#photos-status", added ? `${added} photo${added === 1 ? "" : "s"} added; fitting for Instagram…` : "", added ? "ok" : "");
  }

  const input = $("#photo-files");
  input?.addEventListener("change", async () => {
    await uploadAll([...input.files]);
    input.value = "";
  });
  const dropzone = $("#dropzone");
  dropzone?.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  });
  dropzone?.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone?.addEventListener("drop", async (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    await uploadAll([...(event.dataTransfer?.files ?? [])]);
  });

  // Fitting changes no revision: the draft is read again until nothing waits.
  let waiting = null;
  function waitForFitting() {
    if (waiting) return;
    waiting = setTimeout(async () => {
      waiting = null;
      const { status, json } = await call("GET", `/api/v1/drafts/${id}`);
      if (status !== 200) return;
      const wasPending = itemsOf(draft).some((item) => item.image?.state === "pending");
      draft = { ...json, revision: json.revision };
      render();
      const stillPending = itemsOf(draft).some((item) => item.image?.state === "pending");
      if (wasPending && !stillPending) {
        say("#photos-status", "Every photo is ready.", "ok");
        document.dispatchEvent(new CustomEvent("draft-changed", { detail: draft }));
        describeWhenReady();
      }
    }, 1200);
  }

  // --- describe ------------------------------------------------------------------------------

  async function describe() {
    say("#describe-status", "Writing the caption and alt texts from the photos…");
    const { status, json } = await call("POST", `/api/v1/drafts/${id}/describe`, { revision: revision() });
    if (status === 200) {
      say("#describe-status", "Written from the photos.", "ok");
      adopt(json);
    } else {
      say("#describe-status", failure(status, json), "error");
    }
  }

  // Once every photo is ready and the text is still empty, it is written from them.
  function describeWhenReady() {
    const items = itemsOf(draft);
    const ready = items.length > 0 && items.every((item) => item.image?.state === "ready");
    if (editable && ready && !draft.caption && items.some((item) => item.source === "uploaded")) describe();
  }
  $("#describe")?.addEventListener("click", describe);

  // --- options -------------------------------------------------------------------------------

  const form = $("#options-form");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const name of ["firstComment", "collaborators", "locationId", "aiLabel"]) say(`#${name}-problem`, "", "problem");
    const firstComment = $("#first-comment").value.trim();
    const location = $("#location-id").value.trim();
    const body = {
      revision: revision(),
      firstComment: firstComment || null,
      collaborators: $("#collaborators").value.split(/[\s,]+/).filter(Boolean),
      locationId: location || null,
      aiLabel: $("#ai-made").checked ? "yes" : "auto",
    };
    say("#options-status", "Saving…");
    const { status, json } = await call("PATCH", `/api/v1/drafts/${id}/options`, body);
    if (status === 200) {
      say("#options-status", "Saved.", "ok");
      adopt(json);
      return;
    }
    const general = [];
    for (const problem of json?.error?.problems ?? []) {
      const element = $(`#${problem.path.split("[")[0]}-problem`);
      if (element) element.textContent = `${element.textContent} ${problem.reason}`.trim();
      else general.push(problem.reason);
    }
    say("#options-status", general.join(" ") || failure(status, json), "error");
  });

  render();
  describeWhenReady();
})();
