// Drives Debian's headless chromium through Weir's web UI of a running job and prints what it saw as
// one JSON line: the job page's charts and batch table as they grow, the big screen's numbers as they
// change, 404 pages, and every console error. Screenshots go to OUT_DIR.
//
//   node ui.mjs BASE_URL JOB STREAM OUT_DIR
import { chromium } from "playwright-core";

const [base, job, stream, out] = process.argv.slice(2);
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const context = await chromium.launchPersistentContext(`${out}/profile`, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: FLAGS,
  viewport: { width: 1400, height: 1000 },
});
const errors = [];
const result = { errors };

function watch(page) {
  page.on("console", (m) => { if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
}

async function rows(page) {
  return page.locator("#batches tbody tr").count();
}

// Points in each chart: uPlot draws a canvas; the page's data is what it was given.
async function chartPoints(page) {
  return page.evaluate(() => [...document.querySelectorAll(".chart .u-wrap")].length);
}

try {
  const page = await context.newPage();
  watch(page);
  await page.goto(`${base}/jobs/${encodeURIComponent(job)}`);
  await page.waitForFunction(() => document.querySelectorAll("#batches tbody tr").length >= 3, null, { timeout: 30000 });
  result.rows_first = await rows(page);
  result.charts = await chartPoints(page);
  result.averages = await page.evaluate(() =>
    [...document.querySelectorAll(".avg")].map((e) => e.textContent));
  result.first_rate = await page.locator("#batches tbody tr").first().locator("td").nth(2).textContent();
  const before = result.rows_first;
  await page.waitForFunction((n) => document.querySelectorAll("#batches tbody tr").length > n, before, { timeout: 30000 });
  result.rows_later = await rows(page);
  result.graph_nodes = await page.locator("svg.graph g").count();
  result.receivers = await page.locator("#receivers tr").count();
  result.state = await page.locator("#state").textContent();
  await page.screenshot({ path: `${out}/job.png`, fullPage: true });

  const screen = await context.newPage();
  watch(screen);
  await screen.goto(`${base}/jobs/${encodeURIComponent(job)}/screen/${encodeURIComponent(stream)}`);
  const board = () => screen.evaluate(() => [...document.querySelectorAll("#board li")].map((li) => li.textContent));
  await screen.waitForFunction(() => document.querySelectorAll("#board li").length > 0, null, { timeout: 30000 });
  result.board_first = await board();
  const first = JSON.stringify(result.board_first);
  await screen.waitForFunction(
    (f) => JSON.stringify([...document.querySelectorAll("#board li")].map((li) => li.textContent)) !== f,
    first, { timeout: 30000 });
  result.board_later = await board();
  result.board_font_px = await screen.evaluate(() => parseFloat(getComputedStyle(document.querySelector("#board")).fontSize));
  await screen.screenshot({ path: `${out}/screen.png` });

  const missing = await context.newPage();
  const r1 = await missing.goto(`${base}/jobs/no-such-job`);
  result.missing_job = [r1.status(), await missing.locator("#message").textContent()];
  const r2 = await missing.goto(`${base}/jobs/${encodeURIComponent(job)}/screen/no-such-stream`);
  result.missing_stream = [r2.status(), await missing.locator("#message").textContent()];
  await page.close();
  await screen.close();
} catch (e) {
  result.failure = String(e);
} finally {
  await context.close();
}
console.log(JSON.stringify(result));
