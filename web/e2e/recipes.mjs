// The product recipes in real headless Chromium (Debian's package, driven
// by playwright-core, as flow.mjs) against a running `scout up`: a user
// picks 产品广告 (ad creative) on the new-task form, its missing product name
// is refused on its field, then uploads product images and a backing track
// (a video is refused, saying what the recipe takes), composes straight
// from them (no analysis, no script) and plays and downloads the finished
// video; then a document explainer: a Markdown file read into slides that
// are the script, composed; a topic short written from its topic alone
// (its clip library opened, empty; its scenes as slides, offline); the
// task list says which recipe each
// task is.
// Screenshots go to
// SCREENSHOTS (recipe-*.png).
//
//   BASE_URL     the edge, e.g. http://127.0.0.1:18080
//   OUTBOX       the log SMS provider's outbox file (login codes)
//   MEDIA        a directory with three .png images, track.wav, clip.mp4 and guide.md
//   SCREENSHOTS  where to write PNGs
//   CHROMIUM     the browser (default /usr/bin/chromium)
// Prints one JSON line per checkpoint; exits non-zero on the first failure.

import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { check, launchBrowser, PHONE, pageAtFailure, shoot as shootAt, watchdog, watchPage } from "./harness.mjs";

const BASE = process.env.BASE_URL;
const OUTBOX = process.env.OUTBOX;
const MEDIA = process.env.MEDIA;
const SHOTS = process.env.SCREENSHOTS;
const PHONE_NUMBER = "13900139000";
const LONG = 180_000;

for (const [name, value] of Object.entries({ BASE_URL: BASE, OUTBOX, MEDIA, SCREENSHOTS: SHOTS })) {
  if (!value) {
    console.log(JSON.stringify({ ok: false, what: `${name} is set` }));
    process.exit(2);
  }
}

const shoot = (page, name) => shootAt(page, SHOTS, name);

const browser = await launchBrowser();
const context = await browser.newContext({ viewport: PHONE, acceptDownloads: true, locale: "zh-CN" });
const page = await context.newPage();
const watched = watchPage(page);
const stopWatchdog = watchdog(380_000, (what) => pageAtFailure(page, watched, join(SHOTS, "recipe-zz-failure.png"), what));

try {
  await page.goto(`${BASE}/login`);
  await page.fill('[data-test="phone"]', PHONE_NUMBER);
  await page.click('[data-test="send-code"]');
  await page.waitForSelector('[data-test="hint"]');
  const code = readFileSync(OUTBOX, "utf8")
    .trim()
    .split("\n")
    .filter((l) => l.startsWith(`${PHONE_NUMBER} `))
    .pop()
    ?.split(" ")[1];
  check(/^\d{6}$/.test(code ?? ""), "the code is in the outbox");
  await page.fill('[data-test="code"]', code);
  await page.click('[data-test="login"]');
  await page.waitForURL((u) => u.pathname === "/tasks");
  check(true, "logged in");

  // The form offers every recipe; an ad needs its product's name.
  await page.waitForSelector('[data-test="recipe-ad_creative"]');
  await page.click('[data-test="recipe-ad_creative"]');
  await page.waitForSelector('[data-test="product-name"]');
  check(!(await page.isVisible('[data-test="shop-name"]')), "an ad asks for a product, not a shop");
  await page.fill('[data-test="cta"]', "立即购买");
  await page.click('[data-test="create"]');
  await page.waitForSelector('[data-test="product-name-error"]');
  check(true, "a missing product name is refused on its field", {
    message: await page.textContent('[data-test="product-name-error"]'),
  });
  await page.fill('[data-test="product-name"]', "冷萃乌龙");
  await page.fill('[data-test="tagline"]', "一口回甘");
  await page.fill('[data-test="seconds"]', "10");
  await shoot(page, "recipe-01-form");
  await page.click('[data-test="create"]');
  await page.waitForURL((u) => /^\/tasks\/\d+$/.test(u.pathname));
  const taskUrl = page.url();
  check(true, "ad creative created", { url: taskUrl });

  // Its media: a video is refused saying what it takes; images and a track go.
  await page.setInputFiles('[data-test="file-input"]', join(MEDIA, "clip.mp4"));
  await page.waitForSelector('[data-test="upload-error"]', { timeout: LONG });
  const refusal = await page.textContent('[data-test="upload-error"]');
  check(refusal.includes("image/jpeg"), "a video is refused, naming the types an ad takes", { refusal });
  check(await page.isDisabled('[data-test="start-montage"]'), "composing waits for images and a track");
  const images = readdirSync(MEDIA).filter((f) => f.endsWith(".png")).sort();
  await page.setInputFiles('[data-test="file-input"]', [...images, "track.wav"].map((f) => join(MEDIA, f)));
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-test="clip"] img').length === n && document.querySelector('[data-test="track"]'),
    images.length,
    { timeout: LONG },
  );
  check(true, "images uploaded with thumbnails, and the backing track", { images: images.length });
  await shoot(page, "recipe-02-media");

  // Composed straight from them: its own steps, then the video.
  await page.click('[data-test="start-montage"]');
  await page.waitForSelector('[data-test="player"]', { timeout: LONG });
  check(true, "the ad is composed and playable");
  const facts = await page.textContent('[data-test="video-facts"]');
  check(facts.includes("1080") && facts.includes("1920"), "1080x1920", { facts });
  check(!(await page.isVisible('[data-test="ai-label"]')), "nothing in it is labelled machine-made");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-test="download-video"]')]);
  const path = await download.path();
  check(statSync(path).size > 10_000, "the video downloads", { bytes: statSync(path).size });
  await page.waitForSelector('[data-test="titles"] li', { timeout: LONG });
  const topics = await page.textContent('[data-test="topics"]');
  check(topics.includes("#"), "topics and titles to post it with, from the product's words", { topics });
  await shoot(page, "recipe-03-result");

  // A document explainer: a Markdown file becomes slides, narrated.
  await page.goto(`${BASE}/tasks`);
  await page.click('[data-test="new-task"]');
  await page.click('[data-test="recipe-doc_explainer"]');
  await page.waitForSelector('[data-test="accent-purple"]');
  await page.click('[data-test="accent-purple"]');
  await page.fill('[data-test="doc-title"]', "Rust 入门");
  await page.click('[data-test="create"]');
  await page.waitForURL((u) => /^\/tasks\/\d+$/.test(u.pathname) && u.href !== taskUrl);
  await page.setInputFiles('[data-test="file-input"]', join(MEDIA, "guide.md"));
  await page.waitForSelector('[data-test="document"]', { timeout: LONG });
  check(true, "the document is uploaded and read");
  await page.click('[data-test="start-analysis"]');
  await page.waitForSelector('[data-test="slide"]', { timeout: LONG });
  const slides = await page.$$eval('[data-test="slide"]', (els) => els.map((e) => e.textContent));
  check(slides.length >= 4 && slides.some((s) => s.includes("代码")), "its slides are the script", { slides });
  await shoot(page, "recipe-04-slides");
  await page.click('[data-test="compose"]');
  await page.waitForSelector('[data-test="player"]', { timeout: LONG });
  check(true, "the explainer is composed and playable");
  await shoot(page, "recipe-05-explainer");

  // A topic short: the topic is required on its field; no upload needed
  // (offline, each scene is a slide of its words).
  const explainerUrl = page.url();
  await page.goto(`${BASE}/tasks`);
  await page.click('[data-test="new-task"]');
  await page.click('[data-test="recipe-topic_short"]');
  await page.waitForSelector('[data-test="topic"]');
  await page.click('[data-test="create"]');
  await page.waitForSelector('[data-test="topic-error"]');
  check(true, "a missing topic is refused on its field", {
    message: await page.textContent('[data-test="topic-error"]'),
  });
  await page.fill('[data-test="topic"]', "在家做拿铁");
  await page.fill('[data-test="niche"]', "咖啡爱好者");
  await page.fill('[data-test="topic-seconds"]', "15");
  await shoot(page, "recipe-06-topic-form");
  await page.click('[data-test="create"]');
  await page.waitForURL((u) => /^\/tasks\/\d+$/.test(u.pathname) && u.href !== taskUrl && u.href !== explainerUrl);
  await page.waitForSelector('[data-test="start-analysis"]');
  check(!(await page.isDisabled('[data-test="start-analysis"]')), "a topic short starts without uploads");
  // Its library: this user analysed no clips, so it says where they come from.
  await page.click('[data-test="open-library"]');
  await page.waitForSelector('[data-test="library-empty"]');
  check(true, "the clip library opens, empty for a user with no analysed clips", {
    says: await page.textContent('[data-test="library-empty"]'),
  });
  await shoot(page, "recipe-06b-topic-library");
  await page.click('[data-test="start-analysis"]');
  await page.waitForSelector('[data-test="slide"]', { timeout: LONG });
  const scenes = await page.$$eval('[data-test="slide"]', (els) => els.map((e) => e.textContent));
  check(scenes.length === 5 && scenes[0].includes("在家做拿铁"), "hook, value, points and call to action", { scenes });
  await shoot(page, "recipe-07-topic-script");

  // The list names the recipes.
  await page.goto(`${BASE}/tasks`);
  await page.waitForSelector('[data-test="task-item"]');
  const listed = await page.textContent('[data-test="task-list"]');
  check(
    listed.includes("产品广告") && listed.includes("文档讲解") && listed.includes("主题短视频"),
    "the task list names the recipes",
  );
  check(watched.scriptErrors().length === 0, "no script errors", { consoleErrors: watched.consoleErrors });
  stopWatchdog();
} catch (e) {
  stopWatchdog();
  await pageAtFailure(page, watched, join(SHOTS, "recipe-zz-failure.png"), "page at failure");
  throw e;
} finally {
  await browser.close();
}
