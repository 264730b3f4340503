// Drives the job page of a tracked job in headless Chromium (playwright-core, /usr/bin/chromium):
// signs in with the token, then reads the tracks card and clicks one track's bar.
// Usage: node tracks_check.mjs '{"url", "token", "job", "track", "executable", "shot"}'
// Prints one JSON object with what the page showed; the Python test asserts on it.
import { chromium } from "playwright-core";

const options = JSON.parse(process.argv[2]);
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const browser = await chromium.launch({ executablePath: options.executable, args: CHROMIUM_FLAGS, timeout: 60000 });
const report = { problems: [] };
let signedIn = false;
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on("pageerror", (error) => report.problems.push(`page: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && signedIn) report.problems.push(`console: ${message.text()}`);
  });
  context.on("response", (response) => {
    if (response.status() >= 400 && signedIn) report.problems.push(`http ${response.status()}: ${response.url()}`);
  });

  await page.goto(`${options.url}/jobs/${options.job}`);
  await page.locator("#token-panel").waitFor({ state: "visible", timeout: 15000 });
  await page.fill("#token-panel input", options.token);
  await page.click("#token-panel button[type=submit]");
  signedIn = true;
  await page.locator("body[data-rendered=true]").waitFor({ timeout: 30000 });

  report.cardShown = await page.locator("#tracks-card").isVisible();
  report.count = await page.locator("#tracks-count").textContent();
  report.bodyTracks = await page.evaluate(() => document.body.dataset.tracks);
  report.bars = await page.$$eval("#tracks rect.tk-bar", (bars) => bars.map((bar) => ({
    id: Number(bar.dataset.trackId), best: Number(bar.dataset.bestFrame), fill: bar.getAttribute("fill"),
    x: Number(bar.getAttribute("x")), width: Number(bar.getAttribute("width")),
  })));
  report.labels = await page.$$eval("#tracks text.tl-label", (labels) => labels.map((l) => l.textContent));
  report.stageBefore = await page.getAttribute("#stage figure", "data-frame-index");

  await page.click(`#tracks rect.tk-bar[data-track-id="${options.track}"]`);
  report.stageAfter = await page.getAttribute("#stage figure", "data-frame-index");
  report.stageTrack = await page.getAttribute("#stage", "data-track");
  report.focus = await page.$$eval("#stage svg rect.tk-focus", (rects) => rects.map((r) => ({
    id: Number(r.dataset.trackId), box: ["x", "y", "width", "height"].map((name) => Number(r.getAttribute(name))),
    stroke: r.getAttribute("stroke"),
  })));
  await page.locator("#tracks-card").scrollIntoViewIfNeeded();
  await page.screenshot({ path: options.shot, fullPage: true });
  await context.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
