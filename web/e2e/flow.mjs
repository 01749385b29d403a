// The reviewer's whole flow in real headless Chromium (Debian's package,
// driven by playwright-core; nothing downloads a browser) against a running
// `scout up` on embedded defaults, with its error paths: a wrong SMS code, a
// form error shown on its field, a non-video upload, an expired access token
// refreshed silently, the progress stream cut and resumed, a task that
// fails in compose and is retried from the page. Screenshots of each page
// at phone and desktop width go to SCREENSHOTS.
//
// Run by tests/web.rs:  node e2e/flow.mjs
//   BASE_URL     the edge, e.g. http://127.0.0.1:18080
//   OUTBOX       the log SMS provider's outbox file
//   CLIPS        a directory with three .mp4 clips and not-a-video.txt
//   SCREENSHOTS  where to write PNGs
//   CHROMIUM     the browser (default /usr/bin/chromium)
// Prints one JSON line per checkpoint; exits non-zero on the first failure.

import { readFileSync, readdirSync, statSync, openSync, readSync, closeSync } from "node:fs";
import { join } from "node:path";
import { check, launchBrowser, PHONE, pageAtFailure, shoot as shootAt, watchdog, watchPage, within } from "./harness.mjs";

const BASE = process.env.BASE_URL;
const OUTBOX = process.env.OUTBOX;
const CLIPS = process.env.CLIPS;
const SHOTS = process.env.SCREENSHOTS;
const PHONE_NUMBER = "13800138000";
const LONG = 120_000;

function latestCode() {
  const lines = readFileSync(OUTBOX, "utf8").trim().split("\n");
  const mine = lines.filter((l) => l.startsWith(`${PHONE_NUMBER} `));
  return mine[mine.length - 1]?.split(" ")[1];
}

const shoot = (page, name) => shootAt(page, SHOTS, name);

const browser = await launchBrowser(["--autoplay-policy=no-user-gesture-required"]);
const context = await browser.newContext({ viewport: PHONE, acceptDownloads: true, locale: "zh-CN" });
const page = await context.newPage();
const watched = watchPage(page);
const stopWatchdog = watchdog(380_000, (what) => pageAtFailure(page, watched, join(SHOTS, "zz-failure.png"), what));

try {
  // The app is served at / and its routes fall back to index.html.
  const res = await page.goto(`${BASE}/tasks`);
  check(res.status() === 200, "a deep link is answered with the app");
  check((res.headers()["content-security-policy"] ?? "").includes("default-src 'self'"), "the page has a CSP");
  check(res.headers()["cache-control"] === "no-cache", "index.html is not cached");
  await page.waitForURL(/\/login/);
  check(true, "signed out: sent to the login page");
  await shoot(page, "01-login");

  // Log in: a wrong code first, then the right one from the outbox.
  await page.fill('[data-test="phone"]', PHONE_NUMBER);
  await page.click('[data-test="send-code"]');
  await page.waitForSelector('[data-test="hint"]');
  check((await page.textContent('[data-test="hint"]')).includes("sms-outbox.log"), "local mode says where the code is");
  check(/\d+/.test(await page.textContent('[data-test="send-code"]')), "resend counts down");
  await page.fill('[data-test="code"]', "000000");
  await page.click('[data-test="login"]');
  await page.waitForSelector('[data-test="code-error"]');
  check(true, "a wrong code shows the server's message on the code field", {
    message: await page.textContent('[data-test="code-error"]'),
  });
  const code = latestCode();
  check(/^\d{6}$/.test(code ?? ""), "the code is in the outbox");
  await page.fill('[data-test="code"]', code);
  await page.click('[data-test="login"]');
  // By path: the login page's own URL (/login?next=/tasks) ends in /tasks too.
  await page.waitForURL((u) => u.pathname === "/tasks");
  check(true, "logged in");
  await page.reload();
  await page.waitForSelector('[data-test="new-task"], [data-test="shop-name"]');
  check(new URL(page.url()).pathname === "/tasks", "the session survives a reload");
  await shoot(page, "02-tasks-empty");

  // The brand kit: a logo, an intro card (its empty title refused on its
  // field first) and a crossfade, kept across a reload; every video composed
  // from then on carries it.
  await page.click('[data-test="brand-link"]');
  await page.waitForSelector('[data-test="brand-form"]');
  await page.setInputFiles('[data-test="logo-input"]', join(CLIPS, "logo.png"));
  await page.waitForSelector('[data-test="logo-set"]', { timeout: LONG });
  await page.check('[data-test="intro-on"]');
  await page.check('[data-test="transition-crossfade"]');
  await page.click('[data-test="brand-save"]');
  await page.waitForSelector('[data-test="intro-title-error"]');
  check(true, "an empty intro title is refused on its field", {
    message: await page.textContent('[data-test="intro-title-error"]'),
  });
  await page.fill('[data-test="intro-title"]', "测试小馆");
  await page.click('[data-test="brand-save"]');
  await page.waitForSelector('[data-test="brand-saved"]');
  await page.reload();
  await page.waitForSelector('[data-test="brand-form"]');
  check((await page.inputValue('[data-test="intro-title"]')) === "测试小馆", "the brand kit is kept");
  check(await page.isVisible('[data-test="logo-set"]'), "the logo is kept");
  check(await page.isChecked('[data-test="transition-crossfade"]'), "the transition is kept");
  await shoot(page, "02b-brand");
  // Back to the (still empty) task list: once loaded, it opens the form.
  await page.goto(`${BASE}/tasks`);
  await page.waitForSelector('[data-test="shop-name"]');

  // Create a task: a validation error lands on its field first.
  if (await page.isVisible('[data-test="new-task"]')) await page.click('[data-test="new-task"]');
  await page.click('[data-test="create"]');
  await page.waitForSelector('[data-test="shop-name-error"]');
  check(true, "an empty shop name is refused on its field", {
    message: await page.textContent('[data-test="shop-name-error"]'),
  });
  await page.fill('[data-test="shop-name"]', "海底捞火锅(望京店)");
  await page.fill('[data-test="promotion"]', "人均89，招牌毛肚七上八下");
  await page.click('[data-test="create"]');
  await page.waitForURL((u) => /^\/tasks\/\d+$/.test(u.pathname));
  const taskUrl = page.url();
  check(true, "task created", { url: taskUrl });

  // Upload: a non-video is refused with the server's reason; three clips go.
  await page.setInputFiles('[data-test="file-input"]', join(CLIPS, "not-a-video.txt"));
  await page.waitForSelector('[data-test="upload-error"]', { timeout: LONG });
  check((await page.textContent('[data-test="upload-error"]')).includes("content_type"), "a non-video is refused, saying why");
  const clips = readdirSync(CLIPS).filter((f) => f.endsWith(".mp4")).sort();
  await page.setInputFiles('[data-test="file-input"]', clips.map((f) => join(CLIPS, f)));
  await page.waitForFunction(() => document.querySelectorAll('[data-test="clip"] img').length === 3, null, { timeout: LONG });
  check(true, "three clips uploaded in parallel, confirmed, with thumbnails");
  const before = await page.$$eval('[data-test="clip"] .clip-name', (els) => els.map((e) => e.textContent));
  await page.click('[data-test="clip"]:first-child button[aria-label]:not([disabled]) >> nth=0');
  await page.waitForFunction(
    (first) => document.querySelector('[data-test="clip"] .clip-name')?.textContent !== first,
    before[0],
  );
  check(true, "clips reorder");
  await shoot(page, "03-clips");

  // Analysis, with the live stream cut once: it must resume by itself.
  let watches = 0;
  await page.route("**/scout.tasks.v1.TasksService/WatchProgress", async (route) => {
    watches += 1;
    if (watches === 1) {
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  await page.click('[data-test="start-analysis"]');
  await page.waitForSelector('[data-test="progress"]');
  await shoot(page, "04-analysing");
  await page.waitForSelector('[data-test="paragraph"]', { timeout: LONG });
  check(watches >= 2, "the progress stream was cut and resumed", { watches });
  const shots = await page.$$('[data-test="shot"]');
  check(shots.length === 3, "the shots grid shows every clip", { shots: shots.length });
  check((await page.$$('[data-test="recommended"]')).length >= 1, "recommended shots are marked");
  await page.unroute("**/scout.tasks.v1.TasksService/WatchProgress");

  // An expired (here: unusable) access token is refreshed without a word.
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("scout.session"));
    s.accessToken = `${s.accessToken.slice(0, -8)}AAAAAAAA`;
    localStorage.setItem("scout.session", JSON.stringify(s));
  });
  await page.reload();
  await page.waitForSelector('[data-test="paragraph"]', { timeout: LONG });
  check(page.url() === taskUrl, "a stale access token was refreshed silently");
  await page.locator('[data-test="paragraphs"]').scrollIntoViewIfNeeded();
  await shoot(page, "05-script");

  // Edit one paragraph: the estimate follows, the save makes a new version.
  const estimateBefore = await page.textContent('[data-test="estimate"] >> nth=0');
  await page.fill('[data-test="paragraph-text"] >> nth=0', "家人们！今天带你们来望京这家超火的海底捞，排队两小时也值得，毛肚七上八下真的绝了！");
  const estimateAfter = await page.textContent('[data-test="estimate"] >> nth=0');
  check(estimateBefore !== estimateAfter, "the estimate follows the text", { estimateBefore, estimateAfter });
  await page.click('[data-test="save-script"]');
  await page.waitForSelector('[data-test="saved"]');
  check(true, "the script is saved as a new version", { saved: await page.textContent('[data-test="saved"]') });

  // Voice and subtitles: listen to a voice, pick a style shown on the clip.
  await page.waitForSelector('[data-test="voice"]');
  const preview = page.waitForResponse((r) => r.url().includes("PreviewVoice"));
  await page.click('[data-test="listen-xiaomei"]');
  check((await preview).ok(), "a voice sample is synthesised to listen to");
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-test="style-preview"]')].filter((i) => i.naturalWidth > 0).length === 6,
    null,
    { timeout: LONG },
  );
  check(true, "every subtitle style is shown on a frame of the user's clip");
  await page.click('[data-test="style-neon"]');
  await shoot(page, "06-voice");

  // Compose: the first attempt fails (injected), the page offers a retry.
  await page.click('[data-test="compose"]');
  await page.waitForSelector('[data-test="failed"]', { timeout: LONG });
  check(true, "a compose failure shows its step and error", {
    message: await page.textContent('[data-test="failure-message"]'),
  });
  await shoot(page, "07-failed");
  await page.click('[data-test="retry-task"]');
  await page.waitForSelector('[data-test="progress"]', { timeout: LONG });
  // While the video renders, its low-resolution preview is offered; it is
  // loaded apart from the page (the panel goes once the video is done).
  const previewSrc = await (
    await page.waitForFunction(() => document.querySelector('[data-test="preview"] video')?.getAttribute("src"), null, {
      timeout: LONG,
    })
  ).jsonValue();
  const previewSize = await page.evaluate(async (src) => {
    const v = document.createElement("video");
    v.muted = true;
    v.preload = "metadata";
    v.src = src;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`preview: no metadata in 60 s, error ${v.error?.code ?? "none"}`)), 60_000);
      v.addEventListener("loadedmetadata", () => (clearTimeout(timer), resolve()), { once: true });
      v.addEventListener("error", () => (clearTimeout(timer), reject(new Error(`preview: error ${v.error?.code}`))), {
        once: true,
      });
    });
    return [v.videoWidth, v.videoHeight];
  }, previewSrc);
  check(previewSize[0] === 540 && previewSize[1] === 960, "a 540x960 preview plays while the video renders", {
    previewSize,
  });
  await page.waitForSelector('[data-test="player"]', { timeout: LONG * 2 });
  check(true, "retried from the page, the video is composed");

  // The player: metadata matches the output, and it can seek (ranges).
  const facts = await page.textContent('[data-test="video-facts"]');
  const expected = Number(/([\d.]+)s/.exec(facts)[1]);
  const media = await page.$eval('[data-test="player"]', async (v) => {
    // Each wait is bounded: a player that never gets there says where it
    // stood (its error, network and ready states) instead of hanging.
    const until = (event, ready) =>
      ready()
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
              v.removeEventListener(event, done);
              reject(
                new Error(
                  `no ${event} in 60 s: readyState ${v.readyState}, networkState ${v.networkState}, ` +
                    `error ${v.error?.code ?? "none"} ${v.error?.message ?? ""}, src ${v.currentSrc}`,
                ),
              );
            }, 60_000);
            function done() {
              clearTimeout(timer);
              resolve();
            }
            v.addEventListener(event, done, { once: true });
          });
    await until("loadedmetadata", () => v.readyState >= 1);
    const duration = v.duration;
    let seeked = false;
    v.addEventListener("seeked", () => (seeked = true), { once: true });
    v.currentTime = duration / 2;
    await until("seeked", () => seeked);
    await until("loadeddata", () => v.readyState >= 2);
    return { duration, readyState: v.readyState, width: v.videoWidth, height: v.videoHeight };
  });
  check(Math.abs(media.duration - expected) < 0.6, "the player's duration is the output's", { ...media, expected });
  check(media.readyState >= 2 && media.width === 1080 && media.height === 1920, "it seeks and shows 1080x1920", media);

  check(
    (await page.textContent('[data-test="ai-label"]'))?.includes("AI"),
    "the page says the video carries the AI-generated labels",
    { label: await page.textContent('[data-test="ai-label"]') },
  );

  // Downloads: the video, the assets pack and the editable draft.
  for (const [button, file, magic] of [
    ["download-video", "final.mp4", "ftyp"],
    ["download-assets", "assets.zip", "PK"],
    ["download-draft", "jianying-draft.zip", "PK"],
  ]) {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click(`[data-test="${button}"]`)]);
    const path = join(SHOTS, `downloaded-${file}`);
    await within(LONG, `saving ${file}`, download.saveAs(path));
    const fd = openSync(path, "r");
    const head = Buffer.alloc(12);
    readSync(fd, head, 0, 12, 0);
    closeSync(fd);
    check(statSync(path).size > 10_000 && head.toString("latin1").includes(magic), `the ${file} download`, {
      bytes: statSync(path).size,
    });
  }

  // Publish assist: topics and titles.
  await page.waitForSelector('[data-test="topics"] .chip');
  const topics = await page.$$eval('[data-test="topics"] .chip', (els) => els.map((e) => e.textContent));
  check(topics.length >= 8 && topics.every((t) => t.startsWith("#")), "topics to post with", { topics });
  await shoot(page, "08-result");

  // Publishing: YouTube is set up (a local server speaking its API) but not
  // linked yet, TikTok is not set up; Xiaohongshu is by hand: its
  // publication is the package for posting by hand.
  await page.waitForSelector('[data-test="publications"]');
  check(await page.isDisabled('[data-test="platform-tiktok"]'), "a platform not set up cannot be chosen");
  check(await page.isDisabled('[data-test="platform-youtube"]'), "a platform not linked cannot be chosen");
  check(
    (await page.inputValue('[data-test="publish-title"]')).length >= 20,
    "the title comes from the publish assist",
  );
  await page.check('[data-test="platform-xiaohongshu"]');
  await page.click('[data-test="publish-submit"]');
  await page.waitForSelector('[data-test="publication-xiaohongshu"] [data-test="manual-post"]', { timeout: LONG });
  const manual = await page.getAttribute('[data-test="manual-video"]', "href");
  const got = await page.evaluate(async (u) => {
    const r = await fetch(u);
    const b = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, bytes: b.length, head: String.fromCharCode(...b.slice(4, 8)) };
  }, manual);
  check(got.status === 200 && got.head === "ftyp" && got.bytes > 10_000, "the package's video downloads", got);
  await shoot(page, "08b-publications");

  // The accounts page: a stale link is refused; YouTube is linked through
  // its consent page and back.
  await page.click('[data-test="accounts-link"]');
  await page.waitForSelector('[data-test="account-douyin"]');
  check(!(await page.isVisible('[data-test="link-douyin"]')), "no link button for a platform not set up");
  await page.goto(`${BASE}/accounts/callback?code=abc&state=stale`);
  await page.waitForSelector('[data-test="accounts-error"]');
  check(
    (await page.textContent('[data-test="accounts-error"]')).length > 10,
    "a stale account link is refused with a reason",
    { message: await page.textContent('[data-test="accounts-error"]') },
  );
  check(new URL(page.url()).pathname === "/accounts", "the callback lands on the accounts page");
  await page.click('[data-test="link-youtube"]');
  await page.waitForSelector('[data-test="accounts-notice"]', { timeout: LONG });
  await page.waitForFunction(() =>
    document.querySelector('[data-test="account-youtube"]')?.textContent?.includes("探店小王"),
  );
  check(new URL(page.url()).pathname === "/accounts", "linked through YouTube's page and back");
  await shoot(page, "08c-accounts");

  // Post to YouTube: uploaded, published, and its figures drawn.
  await page.goto(taskUrl);
  await page.waitForSelector('[data-test="publications"]');
  await page.waitForSelector('[data-test="platform-youtube"]:not([disabled])');
  await page.check('[data-test="platform-youtube"]');
  await page.click('[data-test="publish-submit"]');
  await page.waitForFunction(
    () =>
      document.querySelector('[data-test="publication-youtube"] [data-test="publication-status"]')?.textContent?.trim() ===
      "已发布",
    null,
    { timeout: LONG },
  );
  check(true, "the YouTube publication is published");
  await page.waitForSelector('[data-test="publication-stats"] svg polyline', { timeout: LONG });
  check(true, "its figures are drawn");
  await shoot(page, "08d-published");

  // English, then the task list with its badge.
  await page.click('[data-test="locale"]');
  await page.goto(`${BASE}/tasks`);
  await page.waitForSelector('[data-test="task-item"]');
  check((await page.textContent('[data-status="completed"]')) === "Completed", "the English switch and a status badge");
  await shoot(page, "09-tasks");
  check(watched.scriptErrors().length === 0, "no script errors", { consoleErrors: watched.consoleErrors });
  stopWatchdog();
} catch (e) {
  stopWatchdog();
  await pageAtFailure(page, watched, join(SHOTS, "zz-failure.png"), "page at failure");
  throw e;
} finally {
  await browser.close();
}
