// Drives the viewer in headless Chromium (playwright-core, the system's /usr/bin/chromium).
// Usage: node browser_check.mjs '{"url", "token", "job", "frame", "shots": {"job", "index"}}'
// Prints one JSON object with what the pages showed; the Python test asserts on it.
import { chromium } from "playwright-core";

const options = JSON.parse(process.argv[2]);
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const browser = await chromium.launch({
  executablePath: options.executable || "/usr/bin/chromium",
  args: CHROMIUM_FLAGS,
  timeout: 60000,
});
const report = { problems: [] };
// While signed out, the page's data calls and a wrong token are answered 401, as they must be.
let signedOut = true;
const expected401 = (text) => signedOut && /\b401\b/.test(text);
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" && !expected401(message.text())) report.problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => report.problems.push(`page: ${error.message}`));
  context.on("response", (response) => {
    if (response.status() >= 400 && !expected401(String(response.status()))) report.problems.push(`http ${response.status()}: ${response.url()}`);
  });
  page.on("requestfailed", (request) => {
    // The preview <video> may be cancelled by the browser; everything else must load.
    if (!request.url().includes("preview.mp4")) report.problems.push(`request: ${request.url()} ${request.failure()?.errorText}`);
  });

  // The list page without a session asks for the token: a wrong one is refused, the right one
  // is exchanged (POST /v1/login) for the session cookie.
  await page.goto(`${options.url}/`);
  await page.locator("#token-panel").waitFor({ state: "visible", timeout: 15000 });
  await page.fill("#token-panel input", "not-the-token-0123456789");
  await page.click("#token-panel button[type=submit]");
  await page.locator("#token-panel .token-message", { hasText: "refused" }).waitFor({ timeout: 15000 });
  report.wrongTokenMessage = await page.locator("#token-panel .token-message").textContent();
  await page.fill("#token-panel input", options.token);
  await page.click("#token-panel button[type=submit]");
  await page.locator("body[data-ready=true]").waitFor({ timeout: 30000 });
  signedOut = false;
  report.cookies = (await context.cookies()).map((c) => ({
    name: c.name, path: c.path, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite,
    isToken: c.value === options.token,
  }));
  report.tokenKept = await page.evaluate((token) =>
    [document.cookie, JSON.stringify(sessionStorage), JSON.stringify(localStorage)].some((text) => text.includes(token)),
  options.token);
  report.jobRows = await page.locator("#jobs-body tr").count();
  report.firstRowJob = await page.locator("#jobs-body tr").first().getAttribute("data-job-id");
  await page.screenshot({ path: options.shots.index, fullPage: true });

  // The job page in a fresh tab: the session carries over, no token in the address.
  const jobPage = await context.newPage();
  jobPage.on("pageerror", (error) => report.problems.push(`page: ${error.message}`));
  jobPage.on("console", (message) => {
    if (message.type() === "error") report.problems.push(`console: ${message.text()}`);
  });
  await jobPage.goto(`${options.url}/jobs/${options.job}`);
  await jobPage.locator("body[data-rendered=true]").waitFor({ timeout: 30000 });
  await jobPage.waitForFunction(() => [...document.images].every((image) => image.complete), null, { timeout: 20000 });
  report.addressAfterLoad = jobPage.url();
  report.title = await jobPage.locator("#job-title").textContent();
  report.status = await jobPage.locator("#job-status").textContent();
  report.thumbnails = await jobPage.locator("figure[data-role=thumb]").count();
  report.boxesPerThumbnail = await jobPage.$$eval("figure[data-role=thumb]", (figures) =>
    Object.fromEntries(figures.map((f) => [f.dataset.frameIndex, [Number(f.dataset.boxCount), f.querySelectorAll("svg rect.box").length]])));
  report.maskImages = await jobPage.locator("figure[data-role=thumb] svg image.masks").count();
  report.framesWithPhoto = await jobPage.$$eval("figure[data-role=thumb] img", (images) =>
    images.filter((image) => image.naturalWidth > 0).length);
  report.noImageFrames = await jobPage.$$eval("figure[data-role=thumb] .frame-canvas.no-image", (boxes) =>
    boxes.map((box) => box.closest("figure").dataset.frameIndex));
  report.timelineHits = await jobPage.locator("#timeline rect.tl-hit").count();
  report.timelineClasses = await jobPage.$$eval("#timeline text.tl-label", (labels) => labels.map((l) => l.textContent));
  report.contactSheetLoaded = await jobPage.$eval("#contact-sheet img", (image) => image.naturalWidth > 0);
  report.downloads = await jobPage.locator("#downloads a").count();
  report.receiptShown = await jobPage.locator("#receipt-card").isVisible();
  report.receiptFacts = await jobPage.$$eval("#receipt dt", (terms) => terms.map((t) => t.textContent));

  // Selecting a frame puts it on the stage with its boxes and labels.
  await jobPage.click(`figure[data-role=thumb][data-frame-index="${options.frame}"]`);
  report.stageFrame = await jobPage.getAttribute("#stage figure", "data-frame-index");
  report.stageBoxes = await jobPage.locator("#stage svg rect.box").count();
  report.stageLabels = await jobPage.$$eval("#stage svg .label text", (texts) => texts.map((t) => t.textContent));
  report.stageListed = await jobPage.locator("#stage-side .detections li").count();
  await jobPage.screenshot({ path: options.shots.job, fullPage: true });

  // A running Processing job: progress from its reports, no frames yet.
  if (options.running) {
    await jobPage.goto(`${options.url}/jobs/${options.running}`);
    await jobPage.locator("body[data-ready=true]").waitFor({ timeout: 30000 });
    report.runningProgress = await jobPage.locator("#job-progress > .progress-cell .progress-label").textContent();
    report.runningVideos = await jobPage.locator("#job-progress .video-progress li").count();
    report.runningDownloads = await jobPage.locator("#downloads").innerText();
    report.runningViewerHidden = await jobPage.locator("#viewer-card").isHidden();
    report.runningMessage = await jobPage.locator("#job-message").textContent();
    await jobPage.screenshot({ path: options.shots.running, fullPage: true });
  }

  // Signing out ends the session: the list asks for the token again.
  signedOut = true;
  await page.click("#forget-token");
  await page.locator("#token-panel").waitFor({ state: "visible", timeout: 15000 });
  report.cookiesAfterSignOut = (await context.cookies()).length;
  report.jobsAfterSignOut = (await page.request.get(`${options.url}/v1/jobs`)).status();
  await context.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
