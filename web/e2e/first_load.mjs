// Prints the web app's bundle sizes and first-load times, and writes them
// into bench/RESULTS.md between <!-- web:start --> and <!-- web:end -->.
// Usage (from web/, by bench/web.sh): node e2e/first_load.mjs BASE_URL DIST_DIR RESULTS_MD
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { launchBrowser } from "./harness.mjs";

const [base, dist, results] = process.argv.slice(2);
const RUNS = 7;

function files(dir, prefix = "") {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p, `${prefix}${f}/`) : [`${prefix}${f}`];
  });
}

const rows = files(dist)
  .map((f) => {
    const bytes = readFileSync(join(dist, f));
    return { file: f, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  })
  .sort((a, b) => b.raw - a.raw);
const total = rows.reduce((s, r) => ({ raw: s.raw + r.raw, gzip: s.gzip + r.gzip }), { raw: 0, gzip: 0 });
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = rows.filter((r) => r.file === "index.html" || html.includes(`/${r.file}`));
const first = initial.reduce((s, r) => ({ raw: s.raw + r.raw, gzip: s.gzip + r.gzip }), { raw: 0, gzip: 0 });

const browser = await launchBrowser();
const loads = [];
for (let i = 0; i < RUNS; i += 1) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${base}/login`, { waitUntil: "load" });
  await page.waitForSelector('[data-test="phone"]');
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    return { fcp: fcp?.startTime ?? NaN, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, bytes: nav.transferSize };
  });
  const ready = await page.evaluate(() => performance.now());
  loads.push({ ...t, ready });
  await context.close();
}
await browser.close();
const median = (k) => {
  const v = loads.map((l) => l[k]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};

const kb = (n) => (n / 1024).toFixed(1);
const lines = [
  "## Web app (issue 14): bundle and first load",
  "",
  `Run by \`bench/web.sh\` on ${new Date().toISOString().slice(0, 10)}: ${process.env.BENCH_PROFILE ?? "release"} \`scout up\` on embedded defaults, headless Chromium on the same machine (loopback, so this is the app's own cost, not a network's), cold cache each load, median of ${RUNS}.`,
  "",
  "| bundle | KiB | KiB gzipped |",
  "|---|---:|---:|",
  ...rows.slice(0, 8).map((r) => `| ${r.file} | ${kb(r.raw)} | ${kb(r.gzip)} |`),
  `| **all files (${rows.length})** | **${kb(total.raw)}** | **${kb(total.gzip)}** |`,
  `| **first load (index.html and what it links)** | **${kb(first.raw)}** | **${kb(first.gzip)}** |`,
  "",
  "| first load of /login (phone viewport) | ms |",
  "|---|---:|",
  `| first contentful paint | ${median("fcp").toFixed(0)} |`,
  `| DOMContentLoaded | ${median("dcl").toFixed(0)} |`,
  `| load | ${median("load").toFixed(0)} |`,
  `| login form interactive (route chunk loaded) | ${median("ready").toFixed(0)} |`,
  "",
  "The route views are separate chunks: a page loads the core bundle and its own view only.",
];
const table = lines.join("\n");
console.log(table);
const md = readFileSync(results, "utf8");
const block = `<!-- web:start -->\n${table}\n<!-- web:end -->`;
const next = md.includes("<!-- web:start -->")
  ? md.replace(/<!-- web:start -->[\s\S]*<!-- web:end -->/, block)
  : `${md.trimEnd()}\n\n${block}\n`;
writeFileSync(results, next);
