// A post of a person's own photos on the review page: three files chosen (a PNG, a portrait
// JPEG to be cropped to 4:5, a WebP), a refused one shown by its name, each fitted by the
// image consumer, the caption and the three alt texts written from the photos (the page asks
// POST /api/v1/drafts/{id}/describe once every photo is ready), the photos reordered, the
// carousel preview checked (the first image's shape frames all, dots, swipe), approved; then
// the Graph API simulator holds one carousel with the three images in that order, each with
// its alt text. Screenshots (desktop, 390x844 phone) in target/screenshots/.
//
// The describe step and carousel publishing are built separately (vision, publish): this
// test passes once both are merged.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { AIKO, launchChromium, overflow, screenshot, signIn, startReview, trackPages } from "./support.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 900 } };

let review;
let browser;
const pages = trackPages();
before(async () => {
  [review, browser] = await Promise.all([startReview(), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await review?.dispose();
});

async function open(options = DESKTOP) {
  const context = await pages.newContext(browser, options);
  return pages.watch(await context.newPage());
}

/** A picture of one flat colour with a darker band on top, `width` x `height`. */
function picture(width, height, [r, g, b]) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const shade = y < height / 8 ? 0.5 : 1;
    for (let x = 0; x < width; x++) raw.set([r * shade, g * shade, b * shade], (y * width + x) * 3);
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

test("three photos become one carousel: chosen, fitted, described, reordered, approved, published in order", async () => {
  const made = await review.pipeline.generate({ brief: "Our new counter and the first cakes on it", language: "en", photos: true });
  assert.equal(made.status, 201, made.text);
  const id = made.json.draftId;
  const files = [
    { name: "counter.png", mimeType: "image/png", buffer: await picture(1600, 1000, [200, 60, 60]).png().toBuffer() },
    { name: "cake-portrait.jpg", mimeType: "image/jpeg", buffer: await picture(900, 1600, [60, 160, 60]).jpeg().toBuffer() },
    { name: "window.webp", mimeType: "image/webp", buffer: await picture(1000, 1000, [60, 60, 200]).webp().toBuffer() },
    { name: "tiny.png", mimeType: "image/png", buffer: await picture(100, 100, [0, 0, 0]).png().toBuffer() },
  ];

  const page = await open();
  await signIn(page, review.url, AIKO, `/review/${id}`);
  await page.locator("#photo-files").setInputFiles(files);
  // The refused file is named with its reason; the others wait to be fitted, then are ready.
  await page.locator("#upload-errors li").filter({ hasText: "tiny.png: it is 100x100 px" }).waitFor();
  const items = page.locator("#media-items li");
  await page.waitForFunction(() => document.querySelectorAll("#media-items li").length === 3);
  await page.waitForFunction(() => [...document.querySelectorAll("#media-items li")].every((li) => li.classList.contains("ready")), null, { timeout: 30000 });
  const row = await review.pipeline.draftRow(id);
  const stored = JSON.parse(row.media_items);
  assert.deepEqual(
    stored.map((item) => [item.image.width, item.image.height]),
    [
      [1440, 900],
      [900, 1125],
      [1000, 1000],
    ],
    "the PNG scaled, the portrait JPEG cropped to 4:5, the WebP kept square",
  );

  // The first image's shape frames the carousel: 1440x900 is 1.6:1.
  const frame = await page.locator("#slides").evaluate((el) => el.clientWidth / el.clientHeight);
  assert.ok(Math.abs(frame - 1.6) < 0.02, `the frame is ${frame}:1, not the first image's 1.6:1`);
  assert.equal(await page.locator("#dots .dot").count(), 3);
  // The feed preview shows the first photo, not a placeholder for a generated image.
  await page.locator("#image-status").filter({ hasText: "Photos: 3 of 3 ready" }).waitFor();
  assert.match(await page.locator("#preview-image").getAttribute("src"), /\/media\/images\//);

  await screenshot(page, "photos-ready-desktop");

  // The phone: nothing wider than the screen; a swipe moves the carousel.
  const phone = await open(PHONE);
  await signIn(phone, review.url, AIKO, `/review/${id}`);
  await phone.locator("#media-items li.ready").nth(2).waitFor();
  assert.ok((await overflow(phone)) <= 0, "the photos section is wider than a phone");
  await phone.locator("#slides").evaluate((el) => el.scrollTo({ left: el.clientWidth }));
  await phone.waitForFunction(() => document.querySelectorAll("#dots .dot")[1].classList.contains("current"));
  await phone.locator("#photos").scrollIntoViewIfNeeded();
  await screenshot(phone, "photos-phone");

  // The caption and each image's alt text are written from the photos.
  await page.waitForFunction(() => document.querySelector("#caption").value.trim() !== "", null, { timeout: 30000 });
  await page.waitForFunction(() => [...document.querySelectorAll("#media-items .item-alt")].every((p) => !p.textContent.startsWith("No alt text")), null, { timeout: 30000 });
  await screenshot(page, "photos-desktop");

  // The WebP moved to the front: the square frames the carousel now.
  await page.getByRole("button", { name: "Move up image 3" }).click();
  await page.waitForFunction((webp) => document.querySelectorAll("#media-items li")[1]?.dataset.id === webp, stored[2].id);
  await page.getByRole("button", { name: "Move up image 2" }).click();
  await page.waitForFunction((webp) => document.querySelectorAll("#media-items li")[0]?.dataset.id === webp, stored[2].id);
  await page.locator("#photos-status").filter({ hasText: "Saved." }).waitFor();
  const order = await items.evaluateAll((lis) => lis.map((li) => li.dataset.id));
  assert.deepEqual(order, [stored[2].id, stored[0].id, stored[1].id]);
  await page.waitForFunction(() => Math.abs(document.querySelector("#slides").clientWidth / document.querySelector("#slides").clientHeight - 1) < 0.02);
  // Swiped to the second image, its dot is the current one.
  await page.locator("#slide-next").click();
  await page.waitForFunction(() => document.querySelectorAll("#dots .dot")[1].classList.contains("current"));


  const described = JSON.parse((await review.pipeline.draftRow(id)).media_items);
  await page.getByRole("button", { name: "Approve" }).click();
  await page.locator("#status").filter({ hasText: "published" }).waitFor({ timeout: 30000 });
  const posts = review.sim.state.media();
  assert.equal(posts.length, 1);
  assert.equal(posts[0].mediaType, "CAROUSEL");
  const urls = described.map((item) => item.image.key);
  assert.deepEqual(
    posts[0].children.map((child) => [new URL(child.imageUrl).pathname, child.altText]),
    described.map((item, i) => [`/media/${urls[i]}`, item.altText]),
  );
});
