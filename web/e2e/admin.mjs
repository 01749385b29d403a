// The admin panel (/admin) in real headless Chromium (Debian's package,
// driven by playwright-core, as flow.mjs) against a running `scout up`: a
// normal user is told plainly they are not an admin (a 403, still logged
// in); an admin finds that user by a phone fragment (shown masked), reads
// their usage, moves them to pro; filters every user's tasks to the failed
// ones, reads a failed task's failure and cost, retries it; sees the job
// queues, a live render node, and both audit logs with what was just done.
// Screenshots of each tab at phone and desktop width go to SCREENSHOTS
// (admin-*.png).
//
//   BASE_URL     the edge, e.g. http://127.0.0.1:18080
//   OUTBOX       the log SMS provider's outbox file (login codes)
//   ADMIN_PHONE  an existing user with the admin role (scout admin grant)
//   USER_PHONE   an existing normal user with one FAILED task ...
//   FAILED_SHOP  ... whose shop name is this
//   SCREENSHOTS  where to write PNGs
//   CHROMIUM     the browser (default /usr/bin/chromium)
// Prints one JSON line per checkpoint; exits non-zero on the first failure.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { check, launchBrowser, PHONE, pageAtFailure, shoot as shootAt, watchdog, watchPage } from "./harness.mjs";

const BASE = process.env.BASE_URL;
const OUTBOX = process.env.OUTBOX;
const SHOTS = process.env.SCREENSHOTS;
const ADMIN_PHONE = process.env.ADMIN_PHONE;
const USER_PHONE = process.env.USER_PHONE;
const FAILED_SHOP = process.env.FAILED_SHOP;
const WAIT = 30_000;

for (const [name, value] of Object.entries({ BASE_URL: BASE, OUTBOX, SCREENSHOTS: SHOTS, ADMIN_PHONE, USER_PHONE, FAILED_SHOP })) {
  if (!value) {
    console.log(JSON.stringify({ ok: false, what: `${name} is set` }));
    process.exit(2);
  }
}

/** Every code the outbox holds for `phone`, oldest first. */
function codesFor(phone) {
  if (!existsSync(OUTBOX)) return [];
  return readFileSync(OUTBOX, "utf8")
    .trim()
    .split("\n")
    .filter((l) => l.startsWith(`${phone} `))
    .map((l) => l.split(" ")[1]);
}

/** 13800138000 → 138****8000, as the API shows phones. */
const masked = (p) => `${p.slice(0, 3)}****${p.slice(-4)}`;

const shoot = (page, name) => shootAt(page, SHOTS, name);

const browser = await launchBrowser();
const context = await browser.newContext({ viewport: PHONE, locale: "zh-CN" });
const page = await context.newPage();
const watched = watchPage(page);
// The admin API's answers, for whoever reads a failure.
const adminAnswers = [];
page.on("response", (r) => {
  if (new URL(r.url()).pathname.startsWith("/api/v1/admin/")) {
    adminAnswers.push({ url: r.url(), http: r.status() });
  }
});
const atFailure = (what) => pageAtFailure(page, watched, join(SHOTS, "admin-zz-failure.png"), what);
const stopWatchdog = watchdog(380_000, atFailure);

/** Logs in on the login page with a fresh code from the outbox (waiting out a resend limit). */
async function login(phone) {
  await page.waitForSelector('[data-test="phone"]');
  await page.fill('[data-test="phone"]', phone);
  const before = codesFor(phone).length;
  let code;
  for (let attempt = 0; attempt < 3 && !code; attempt += 1) {
    // A code sent within the last minute (the harness logging in) makes the
    // button count down first: wait it out.
    await page.waitForSelector('[data-test="send-code"]:not([disabled])', { timeout: 90_000 });
    await page.click('[data-test="send-code"]');
    const deadline = Date.now() + 10_000;
    while (!code && Date.now() < deadline) {
      const codes = codesFor(phone);
      if (codes.length > before) code = codes[codes.length - 1];
      else await page.waitForTimeout(250);
    }
  }
  check(/^\d{6}$/.test(code ?? ""), "a login code is in the outbox", { phone: masked(phone) });
  await page.fill('[data-test="code"]', code);
  await page.click('[data-test="login"]');
  await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: WAIT });
  check(true, "logged in", { phone: masked(phone), url: page.url() });
}

/** Clicks `refresh` until `selector` shows up (heartbeats and audit entries arrive on their own time). */
async function waitWithRefresh(selector, refresh, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await page.$(selector)) return true;
    if (Date.now() > deadline) return false;
    await page.waitForTimeout(2_000);
    if (!(await page.$(selector))) {
      await page.click(refresh).catch(() => undefined);
      await page.waitForTimeout(500);
    }
  }
}

try {
  // ---- a normal user: told plainly, not logged out -------------------------
  await page.goto(`${BASE}/admin`);
  await page.waitForURL(/\/login/);
  check(true, "signed out: /admin sends to the login page");
  await login(USER_PHONE);
  check(new URL(page.url()).pathname === "/admin", "back on /admin after logging in", { url: page.url() });
  await page.waitForSelector('[data-test="admin-forbidden"]', { timeout: WAIT });
  check(
    adminAnswers.some((a) => a.http === 403),
    "the REST API answered 403 for a non-admin",
    { adminAnswers: adminAnswers.slice(-3) },
  );
  check(
    ((await page.textContent('[data-test="admin-forbidden"]')) ?? "").trim().length > 0,
    "the page says the user is not an admin",
    { text: (await page.textContent('[data-test="admin-forbidden"] .banner'))?.trim() },
  );
  check(!(await page.$('[data-test="admin-users-table"]')), "no admin data is shown");
  check(!(await page.isVisible('[data-test="admin-link"]')), "no admin link in the header for a normal user");
  await page.waitForTimeout(500);
  const stillIn = await page.evaluate(() => localStorage.getItem("scout.session"));
  check(
    stillIn !== null && new URL(page.url()).pathname === "/admin" && (await page.isVisible('[data-test="logout"]')),
    "a 403 does not log the user out",
  );
  await shoot(page, "admin-forbidden");

  await page.click('[data-test="logout"]');
  await page.waitForURL(/\/login/);
  check(true, "logged out");

  // ---- the admin: the header link, then the users tab ----------------------
  await login(ADMIN_PHONE);
  await page.waitForSelector('[data-test="admin-link"]', { timeout: WAIT });
  check(true, "the header offers the admin page to an admin");
  await page.click('[data-test="admin-link"]');
  await page.waitForURL((u) => u.pathname === "/admin");
  await page.waitForSelector('[data-test="admin-users-table"]', { timeout: WAIT });
  check(true, "the admin page opens on the users tab");

  const fragment = USER_PHONE.slice(-6);
  await Promise.all([
    page.waitForResponse((r) => r.url().includes("/api/v1/admin/users?") && r.url().includes(`query=${fragment}`)),
    (async () => {
      await page.fill('[data-test="admin-user-search"]', fragment);
      await page.click('[data-test="admin-user-search-submit"]');
    })(),
  ]);
  const want = masked(USER_PHONE);
  await page.waitForFunction(
    (phone) =>
      [...document.querySelectorAll('[data-test^="admin-user-phone-"]')].some((e) => e.textContent.trim() === phone),
    want,
    { timeout: WAIT },
  );
  const userId = await page.$$eval(
    '[data-test^="admin-user-row-"]',
    (rows, phone) =>
      rows
        .find((r) => r.querySelector('[data-test^="admin-user-phone-"]')?.textContent.trim() === phone)
        ?.getAttribute("data-user-id"),
    want,
  );
  const tableText = await page.textContent('[data-test="admin-users-table"]');
  check(
    !!userId && !tableText.includes(USER_PHONE),
    "a phone fragment finds the user, their phone shown masked",
    { userId, phone: want },
  );

  await page.click(`[data-test="admin-usage-${userId}"]`);
  const panel = `[data-test="admin-usage-panel-${userId}"]`;
  await page.waitForSelector(`${panel} [data-test="admin-usage-cost"]`, { timeout: WAIT });
  const usage = {
    today: (await page.textContent(`${panel} [data-test="admin-usage-today"]`)).trim(),
    last30: (await page.textContent(`${panel} [data-test="admin-usage-last30"]`)).trim(),
    storage: (await page.textContent(`${panel} [data-test="admin-usage-storage"]`)).trim(),
    cost: (await page.textContent(`${panel} [data-test="admin-usage-cost"]`)).trim(),
    failedTasks: await page.$$eval(`${panel} [data-test="admin-usage-tasks"] [data-status="failed"]`, (e) => e.length),
  };
  check(
    /^\d+$/.test(usage.today) && /^\d+$/.test(usage.last30) && /\d/.test(usage.cost) && usage.failedTasks >= 1,
    "the user's usage: videos, storage, tasks by status, estimated cost",
    usage,
  );

  await page.click(`[data-test="admin-set-tier-${userId}"]`);
  await page.selectOption(`[data-test="admin-tier-select-${userId}"]`, "pro");
  await page.fill(`[data-test="admin-tier-reason-${userId}"]`, "e2e: upgrade");
  await page.click(`[data-test="admin-tier-save-${userId}"]`);
  await page.waitForSelector(`[data-test="admin-user-tier-${userId}"][data-tier="pro"]`, { timeout: WAIT });
  check(true, "the tier change shows pro in the table");
  await Promise.all([
    page.waitForResponse((r) => r.url().includes("/api/v1/admin/users?") && r.url().includes(`query=${fragment}`)),
    page.click('[data-test="admin-user-search-submit"]'),
  ]);
  await page.waitForSelector(`[data-test="admin-user-tier-${userId}"][data-tier="pro"]`, { timeout: WAIT });
  check(true, "searched again, the user is still pro");
  await shoot(page, "admin-users");

  // ---- tasks: the failed one, its failure, cost, retry ---------------------
  await page.click('[data-test="admin-tab-tasks"]');
  await page.waitForSelector('[data-test="admin-tasks-table"]', { timeout: WAIT });
  await page.selectOption('[data-test="admin-filter-status"]', "failed");
  await Promise.all([
    page.waitForResponse((r) => r.url().includes("/api/v1/admin/tasks?") && r.url().includes("status=failed")),
    page.click('[data-test="admin-filter-apply"]'),
  ]);
  await page.waitForFunction(
    (shop) =>
      [...document.querySelectorAll('[data-test^="admin-task-shop-"] strong')].some((e) => e.textContent.trim() === shop),
    FAILED_SHOP,
    { timeout: WAIT },
  );
  const statuses = await page.$$eval('[data-test^="admin-task-row-"]', (rows) => rows.map((r) => r.dataset.status));
  check(statuses.length > 0 && statuses.every((s) => s === "failed"), "status=failed lists failed tasks only", { statuses });
  const taskId = await page.$$eval(
    '[data-test^="admin-task-row-"]',
    (rows, shop) =>
      rows
        .find((r) => r.querySelector('[data-test^="admin-task-shop-"] strong')?.textContent.trim() === shop)
        ?.getAttribute("data-task-id"),
    FAILED_SHOP,
  );
  const failure = {
    step: await page.getAttribute(`[data-test="admin-failure-step-${taskId}"]`, "data-step"),
    stepText: (await page.textContent(`[data-test="admin-failure-step-${taskId}"]`)).trim(),
    message: (await page.textContent(`[data-test="admin-failure-message-${taskId}"]`)).trim(),
  };
  check(!!taskId && !!failure.step && failure.message.length > 0, "the failed task shows its failure step and message", {
    taskId,
    ...failure,
  });

  await page.click(`[data-test="admin-cost-${taskId}"]`);
  await page.waitForSelector(`[data-test="admin-cost-total-${taskId}"]`, { timeout: WAIT });
  const cost = {
    total: (await page.textContent(`[data-test="admin-cost-total-${taskId}"]`)).trim(),
    lines: await page.$$eval(`[data-test="admin-cost-panel-${taskId}"] [data-test="admin-cost-line"]`, (e) =>
      e.map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent.trim())),
    ),
  };
  check(/\d/.test(cost.total) && cost.lines.length >= 1, "the task's cost: lines and a total", cost);
  await shoot(page, "admin-tasks");

  await page.fill('[data-test="admin-tasks-reason"]', "e2e: retry");
  await page.click(`[data-test="admin-retry-${taskId}"]`);
  await page.waitForFunction(
    (id) => {
      const badge = document.querySelector(`[data-test="admin-task-status-${id}"]`);
      return badge && badge.dataset.status && badge.dataset.status !== "failed";
    },
    taskId,
    { timeout: WAIT },
  );
  check(true, "retried: the task's status leaves failed", {
    status: await page.getAttribute(`[data-test="admin-task-status-${taskId}"]`, "data-status"),
  });

  // ---- jobs ---------------------------------------------------------------------
  await page.click('[data-test="admin-tab-jobs"]');
  await page.waitForSelector('[data-test="admin-queue-row"]', { timeout: WAIT });
  const queues = await page.$$eval('[data-test="admin-queue-row"]', (rows) =>
    rows.map((r) => ({ kind: r.dataset.kind, topic: r.dataset.topic, role: r.dataset.role })),
  );
  const hasKind = (k) => queues.some((q) => q.kind === k || (q.topic ?? "").includes(k));
  check(hasKind("compose") && hasKind("analyze"), "the queues table has the compose and analyze topics", {
    topics: queues.map((q) => q.topic),
  });
  const pending = (await page.textContent('[data-test="admin-dead-letters-pending"]')).trim();
  check(/^\d+$/.test(pending), "dead letters pending is shown", { pending });
  await page.waitForSelector('[data-test="admin-dead-letters-table"]');
  await shoot(page, "admin-jobs");

  // ---- render nodes ---------------------------------------------------------------
  await page.click('[data-test="admin-tab-nodes"]');
  await page.waitForSelector('[data-test="admin-nodes-table"]', { timeout: WAIT });
  const alive = await waitWithRefresh('[data-test="admin-node-row"][data-alive="true"]', '[data-test="admin-nodes-refresh"]');
  const nodes = await page.$$eval('[data-test="admin-node-row"]', (rows) =>
    rows.map((r) => ({ id: r.dataset.nodeId, alive: r.dataset.alive })),
  );
  check(alive, "at least one render node is alive", { nodes });
  await shoot(page, "admin-nodes");

  // ---- audit log ----------------------------------------------------------------
  await page.click('[data-test="admin-tab-audit"]');
  await page.waitForSelector('[data-test="admin-audit-table"]', { timeout: WAIT });
  const both =
    (await waitWithRefresh('[data-test="admin-audit-row"][data-action="set_membership"]', '[data-test="admin-audit-refresh"]', 20_000)) &&
    (await waitWithRefresh('[data-test="admin-audit-row"][data-action="retry_task"]', '[data-test="admin-audit-refresh"]', 20_000));
  const actions = await page.$$eval('[data-test="admin-audit-row"]', (rows) => rows.map((r) => r.dataset.action));
  check(both, "the audit log shows set_membership and retry_task", { actions: actions.slice(0, 10) });
  await shoot(page, "admin-audit");

  check(watched.scriptErrors().length === 0, "no script errors", { consoleErrors: watched.consoleErrors });
  stopWatchdog();
} catch (e) {
  stopWatchdog();
  await atFailure("page at failure");
  throw e;
} finally {
  await browser.close();
}
