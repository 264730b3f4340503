// The job page of a running job in headless Chromium, in steps the Python test drives over stdio:
// after each step this prints one JSON line and waits for a line on stdin (the test has then moved
// the job on: more progress and result parts, then PARTIAL).
// Usage: node running_check.mjs '{"url", "token", "job", "executable", "shot"}'
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const options = JSON.parse(process.argv[2]);
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function step(report) {
  console.log(JSON.stringify(report));
  await lines.next();
}

const browser = await chromium.launch({ executablePath: options.executable || "/usr/bin/chromium", args: CHROMIUM_FLAGS, timeout: 60000 });
const problems = [];
// Until the form signed in, the page's first data call is answered 401, as it must be.
let signedOut = true;
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" && !(signedOut && /\b401\b/.test(message.text()))) problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page: ${error.message}`));
  const jobPolls = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === `/v1/jobs/${options.job}`) jobPolls.push(Date.now());
  });
  const live = async () => Object.fromEntries(await page.$$eval("#live-progress [data-field]", (spans) => spans.map((s) => [s.dataset.field, s.textContent])));
  const thumbnails = () => page.locator("figure[data-role=thumb]").count();

  await page.goto(`${options.url}/jobs/${options.job}`);
  await page.locator("#token-panel").waitFor({ state: "visible", timeout: 15000 });
  await page.fill("#token-panel input", options.token);
  await page.click("#token-panel button[type=submit]");
  await page.locator("#live-progress").waitFor({ timeout: 30000 });
  signedOut = false;
  const first = await live();
  await step({ step: 1, live: first, thumbnails: await thumbnails(), viewerHidden: await page.locator("#viewer-card").isHidden() });

  // The test wrote progress and parts: the next poll (2 s) shows them without a reload.
  await page.waitForFunction((before) => {
    const frames = document.querySelector("#live-progress [data-field=frames]");
    return frames && frames.textContent !== before && Number(document.body.dataset.frames || 0) > 0;
  }, first.frames, { timeout: 20000 });
  await page.waitForFunction(() => [...document.images].every((image) => image.complete), null, { timeout: 10000 });
  await page.screenshot({ path: options.shot, fullPage: true });
  await step({
    step: 2,
    live: await live(),
    status: await page.locator("#job-status").textContent(),
    thumbnails: await thumbnails(),
    boxes: await page.locator("figure[data-role=thumb] svg rect.box").count(),
    stageFrame: await page.getAttribute("#stage figure", "data-frame-index"),
  });

  // The job ended PARTIAL: the badge shows it, the live line goes, and the polling stops.
  await page.locator("body[data-status=PARTIAL]").waitFor({ state: "attached", timeout: 20000 });
  const pollsAtEnd = jobPolls.length;
  await page.waitForTimeout(4500);
  console.log(JSON.stringify({
    step: 3,
    badge: await page.locator("#job-status .badge").textContent(),
    badgeClass: await page.getAttribute("#job-status .badge", "class"),
    liveShown: await page.locator("#live-progress").count(),
    thumbnails: await thumbnails(),
    pollsAfterEnd: jobPolls.length - pollsAtEnd,
    problems,
  }));
  await context.close();
} finally {
  input.close();
  await browser.close();
}
