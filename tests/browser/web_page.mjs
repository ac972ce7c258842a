// The web page in a real browser: Debian's Chromium, driven by playwright-core.
// Run by tests/api/web_page.rs against a server it started, with:
//   BASE_URL        the server, e.g. http://127.0.0.1:41234
//   API_KEY         a key the page must ask for (auth is on)
//   GOOD_FILE       a Brazilian-style CSV (Windows-1252, `;`, decimal commas,
//                   a title line above the header, a `Fonte:` line below)
//   BROKEN_FILE     a CSV with a ragged row at BROKEN_LINE
//   BROKEN_LINE     that line
//   FORCED_COLUMN   a column whose type the test changes to string on the page
//   DOWNLOAD_TO     where to save the downloaded Parquet file
//   SCREENSHOT_TO   where to save the screenshot of the page (README's)
// Prints what it checked; exits 1 with the reason at the first failure.

import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};
const base = env("BASE_URL");
const key = env("API_KEY");
const goodFile = env("GOOD_FILE");
const brokenFile = env("BROKEN_FILE");
const brokenLine = env("BROKEN_LINE");
const forcedColumn = env("FORCED_COLUMN");
const goodName = goodFile.split("/").pop();
const brokenName = brokenFile.split("/").pop();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Root in a container has no user namespace for Chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const failures = [];
let page = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await context.newPage();
  page.setDefaultTimeout(60_000);
  // The page may reach this server alone.
  const elsewhere = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // A refused request is logged by the browser itself; those are asserted on below.
    if (message.type() === "error" && !/status of 4\d\d/.test(message.text())) failures.push(`console error: ${message.text()}`);
  });

  await page.goto(`${base}/`);
  await page.getByRole("heading", { name: "Convert CSV to Parquet" }).waitFor();
  await checkLabels(page, "convert view");

  // Keyboard: the skip link, then the navigation, then the file picker.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");

  await page.locator("#files").setInputFiles([goodFile, brokenFile]);
  const good = page.getByRole("article", { name: goodName });
  const broken = page.getByRole("article", { name: brokenName });
  await good.waitFor();
  await broken.waitFor();

  // Inspect: auth is on, so the page asks for the key first.
  await good.getByRole("button", { name: "Inspect" }).click();
  const dialog = page.getByRole("dialog", { name: "API key" });
  await dialog.waitFor();
  await dialog.getByLabel("Key").fill(key);
  await dialog.getByRole("button", { name: "Use this key" }).click();
  const rows = good.getByRole("region", { name: `First 20 rows of ${goodName}` });
  await rows.waitFor();
  const facts = await good.locator(".report .facts").textContent();
  for (const fact of ["encoding windows-1252", "delimiter ;", "decimal separator ,", "1 line(s) above the header skipped"]) {
    assert.ok(facts.includes(fact), `the inspection says "${facts}", not "${fact}"`);
  }
  assert.ok((await rows.textContent()).includes("São Paulo"), "the first rows are shown, decoded from Windows-1252");
  const typeSelect = good.getByLabel(`Type of column ${forcedColumn}`);
  assert.match(await typeSelect.locator("option").first().textContent(), /^Int64/);
  console.log("inspect: the dialect, the skipped lines, typed columns and the first rows are shown");

  // Change an option: the look is asked again with it, and it is what "Convert" sends.
  await typeSelect.selectOption("string");
  await good.getByText(`schema=${forcedColumn}:string`).waitFor();
  await good.getByLabel(`Type of column ${forcedColumn}`).locator("option", { hasText: "Utf8 (forced)" }).waitFor({ state: "attached" });
  console.log("inspect: a changed column type refreshed the look (Utf8, forced)");
  // README's picture: the options, what was detected and the typed first rows.
  await page.setViewportSize({ width: 1280, height: 1360 });
  await page.screenshot({ path: env("SCREENSHOT_TO"), fullPage: false });
  await page.setViewportSize({ width: 1280, height: 900 });

  // Record every progress text the card shows, to see the conversion advance.
  await good.locator(".card-progress").evaluate((element) => {
    window.progressSeen = [];
    new MutationObserver(() => window.progressSeen.push(element.textContent)).observe(element, { subtree: true, childList: true, characterData: true });
  });
  await good.getByRole("button", { name: "Convert" }).click();
  await broken.getByRole("button", { name: "Convert" }).click();
  await good.getByText(/Converted [\d,.]+ rows into/).waitFor({ timeout: 120_000 });
  const uploadBar = good.getByRole("progressbar", { name: `Upload of ${goodName}` });
  const convertBar = good.getByRole("progressbar", { name: `Conversion of ${goodName}` });
  assert.equal(await uploadBar.evaluate((bar) => bar.value), 100);
  assert.equal(await convertBar.evaluate((bar) => bar.value), 100);
  const seen = await page.evaluate(() => window.progressSeen);
  assert.ok(seen.some((text) => /uploaded .* of /.test(text)), `upload progress was shown: ${JSON.stringify(seen.slice(0, 5))}`);
  assert.ok(seen.some((text) => /converting|writing|storing|finished/.test(text)), `conversion progress was shown: ${JSON.stringify(seen)}`);
  console.log(`convert: upload and conversion progress reached 100 % (${seen.length} updates)`);

  // The broken file's error, in words, with its line and code.
  const error = broken.getByRole("alert");
  await error.waitFor({ timeout: 120_000 });
  const errorText = await error.textContent();
  assert.ok(errorText.includes(`line ${brokenLine}`), `the error names line ${brokenLine}: ${errorText}`);
  assert.ok(errorText.includes("ragged-row"), `the error names its code: ${errorText}`);
  console.log(`convert: the broken file says "${errorText.trim()}"`);

  // The job page: status, timeline, what was read, the first rows, the trace.
  await good.getByRole("link", { name: "Open the job page" }).click();
  await page.getByRole("heading", { level: 1, name: new RegExp(goodName) }).waitFor();
  await page.getByRole("region", { name: "Steps of the job" }).waitFor();
  const read = await page.locator("p.facts").textContent();
  assert.ok(read.includes("1 footer line(s) dropped") && read.includes("encoding windows-1252"), `what was read: ${read}`);
  const columns = await page.getByRole("region", { name: "Columns and their profile" }).textContent();
  assert.ok(columns.includes("Utf8") && columns.includes("forced"), `the forced type is reported: ${columns}`);
  const preview = page.getByRole("region", { name: /^First 50 of [\d,.]+ rows$/ });
  await preview.waitFor();
  assert.ok((await preview.textContent()).includes("São Paulo"), "the result's first rows are shown");
  assert.match(await page.getByRole("link", { name: "Open the trace" }).getAttribute("href"), /^http:\/\/jaeger\.test\/trace\/[0-9a-f]{32}$/);
  await checkLabels(page, "job page");
  console.log("job page: status, timeline, columns, preview rows and the trace link are shown");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download Parquet" }).click()]);
  await download.saveAs(env("DOWNLOAD_TO"));
  assert.equal(download.suggestedFilename().endsWith(".parquet"), true, download.suggestedFilename());
  console.log(`job page: downloaded ${download.suggestedFilename()}`);

  // The job list, and its status filter.
  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  const list = page.getByRole("region", { name: "Jobs" });
  await list.getByRole("link", { name: brokenName }).waitFor();
  await list.getByRole("link", { name: goodName }).waitFor();
  await page.getByLabel("Status").selectOption("failed");
  await page.getByRole("table").getByText("Jobs failed, newest first").waitFor();
  await list.getByRole("link", { name: brokenName }).waitFor();
  assert.equal(await list.getByRole("link", { name: goodName }).count(), 0, "the filter leaves out the succeeded job");
  console.log("jobs: both jobs listed, the status filter works");

  // On a phone: nothing wider than the screen but the tables' own scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/`);
  await page.getByRole("heading", { name: "Convert CSV to Parquet" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const widest = await page.evaluate(() =>
    Array.from(document.querySelectorAll("main *"))
      .filter((element) => !element.closest(".table-wrap") && element.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 3)
      .map((element) => `${element.tagName}.${element.className}`),
  );
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone's screen: ${widest.join(", ")}`);
  console.log("phone: the page fits a 390 px wide screen");

  assert.deepEqual(elsewhere, [], "the page asked for nothing from another site");
  // The key stays in the tab's session storage, never in local storage.
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("parquetry.api-key")), key);
} catch (error) {
  failures.push(error.stack || String(error));
  // What the page showed when it failed, to tell why.
  if (page) {
    const shown = await page.locator("main").innerText().catch(() => "");
    failures.push(`the page showed:\n${shown.slice(0, 4000)}`);
    await page.screenshot({ path: `${env("SCREENSHOT_TO")}.failure.png`, fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log("the web page passed in Chromium");

/// Every form control has a name a screen reader can say.
async function checkLabels(page, where) {
  const unnamed = await page.evaluate(() =>
    Array.from(document.querySelectorAll("input, select, button, textarea"))
      .filter((control) => control.type !== "hidden" && !control.closest("dialog:not([open])"))
      .filter((control) => !(control.labels && control.labels.length) && !control.getAttribute("aria-label") && !control.textContent.trim())
      .map((control) => control.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unnamed, [], `controls without a label on the ${where}`);
}
