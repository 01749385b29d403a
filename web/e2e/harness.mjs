// What the browser scripts share (flow.mjs, admin.mjs, first_load.mjs):
// launching Debian's Chromium through playwright-core, checkpoints printed
// as JSON lines, screenshots at phone and desktop width, a record of what
// the server refused, what the page showed when a step failed, and a
// watchdog so that no script can hang without saying where it stood.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

/** Prints one checkpoint; throws on a failed one. */
export function check(cond, what, extra = {}) {
  if (!cond) {
    console.log(JSON.stringify({ ok: false, what, ...extra }));
    throw new Error(`failed: ${what} ${JSON.stringify(extra)}`);
  }
  console.log(JSON.stringify({ ok: true, what, ...extra }));
}

/** Headless Chromium (CHROMIUM, default /usr/bin/chromium): nothing downloads a browser. */
export function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}

/** `{dir}/{name}-phone.png` and `{dir}/{name}-desktop.png`, as a person sees the screen. */
export async function shoot(page, dir, name) {
  mkdirSync(dir, { recursive: true });
  const size = page.viewportSize();
  for (const [label, vp] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(150);
    await page.screenshot({ path: join(dir, `${name}-${label}.png`) });
  }
  await page.setViewportSize(size);
}

// A grpc-web answer's trailers: in the headers (trailers-only) or in the
// body's trailer frame (flag 0x80), where a unary refusal usually is.
function bodyTrailers(body) {
  let at = 0;
  while (at + 5 <= body.length) {
    const flag = body[at];
    const len = body.readUInt32BE(at + 1);
    const frame = body.subarray(at + 5, at + 5 + len);
    if (flag & 0x80) {
      return Object.fromEntries(
        frame
          .toString("utf8")
          .split("\r\n")
          .filter(Boolean)
          .map((l) => {
            const i = l.indexOf(":");
            return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
          }),
      );
    }
    at += 5 + len;
  }
  return {};
}

/**
 * Records the page's script errors and every call the server refused
 * (HTTP >= 400, or a grpc-status other than 0, in the headers or the body's
 * trailers of a unary grpc-web answer).
 */
export function watchPage(page) {
  const consoleErrors = [];
  const refusedCalls = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", async (r) => {
    let status = r.headers()["grpc-status"];
    let message = r.headers()["grpc-message"];
    const unaryGrpcWeb =
      (r.headers()["content-type"] ?? "").startsWith("application/grpc-web") && !r.url().includes("WatchProgress");
    if (!status && unaryGrpcWeb) {
      try {
        const t = bodyTrailers(await r.body());
        status = t["grpc-status"];
        message = t["grpc-message"];
      } catch {
        // The page went away before the body was read.
      }
    }
    if ((status && status !== "0") || r.status() >= 400) {
      refusedCalls.push({ url: r.url(), http: r.status(), grpc: status, message });
    }
  });
  return {
    consoleErrors,
    refusedCalls,
    /** Script errors other than failed loads (which the refused calls show). */
    scriptErrors: () => consoleErrors.filter((e) => !/Failed to load resource|net::ERR/.test(e)),
  };
}

/** Prints what the page showed (text, URL, session, refused calls) and saves a full-page screenshot. */
export async function pageAtFailure(page, watched, screenshot, what) {
  await page.screenshot({ path: screenshot, fullPage: true, timeout: 10_000 }).catch(() => undefined);
  const text = await page.evaluate(() => document.body.innerText).catch(() => "");
  const session = await page.evaluate(() => localStorage.getItem("scout.session")).catch(() => null);
  const { consoleErrors, refusedCalls } = watched;
  console.log(JSON.stringify({ ok: false, what, url: page.url(), text, consoleErrors, refusedCalls, session }));
}

/**
 * Every step has its own deadline; this catches one that has none (a wait
 * inside the page): after `ms` (WATCHDOG_MS overrides) it calls `report`
 * and exits 2, well before the test runner would kill the script silently.
 * Returns a function that stops it.
 */
export function watchdog(ms, report) {
  const limit = Number(process.env.WATCHDOG_MS ?? ms);
  const timer = setTimeout(async () => {
    await Promise.race([report(`still running after ${limit} ms`), new Promise((r) => setTimeout(r, 20_000))]);
    process.exit(2);
  }, limit);
  return () => clearTimeout(timer);
}

/** `promise`, or an error naming `what` after `ms`. */
export function within(ms, what, promise) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
