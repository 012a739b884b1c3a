// The web UI in a real headless Chromium, driven by playwright-core.
// Usage: node browser.mjs URL SCREENSHOT_DIR
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const [url, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

// 1. The search form: dates, an attribute and its value, max results.
await page.goto(`${url}/search`);
await page.fill("#start", "2000-01-01T00:00:00");
await page.fill("#end", "2100-01-01T00:00:00");
await page.selectOption("select[name=attr]", "EventName");
await page.fill("input[name=value]", "GetSecretValue");
await page.selectOption("select[name=limit]", "25");
await Promise.all([page.waitForURL(/eventName|attr=EventName/), page.click("button[type=submit]")]);
const rows = page.locator("#results tbody tr");
assert.ok((await rows.count()) > 0, "search returned no rows");
assert.ok((await rows.count()) <= 25);
for (const cell of await page.locator("#results tbody td[data-col='2']").allTextContents()) {
  assert.equal(cell.trim(), "GetSecretValue");
}
assert.match(page.url(), /attr=EventName/);
assert.match(page.url(), /value=GetSecretValue/);
await shot("search");

// The column chooser hides a column.
await page.click("details.columns summary");
await page.uncheck("details.columns input[data-col='8']");
assert.equal(await page.locator("#results th[data-col='8']").isVisible(), false);
await page.check("details.columns input[data-col='8']");

// Next page keeps the query.
if (await page.locator("#next-page").count()) {
  await Promise.all([page.waitForURL(/cursor=/), page.click("#next-page")]);
  assert.match(page.url(), /value=GetSecretValue/);
  assert.ok((await rows.count()) > 0);
}

// 2. Open an event.
await Promise.all([page.waitForURL(/\/events\//), page.locator("#results tbody td[data-col='0'] a").first().click()]);
await page.waitForSelector("pre.record");
assert.match(await page.locator("pre.record").textContent(), /"eventName": "GetSecretValue"/);
assert.ok(await page.locator("#around").count(), "no link to the principal's activity around this time");
await shot("event");

// 3. Date validation: an end before the start is refused with a message.
await page.goto(`${url}/search`);
await page.fill("#start", "2024-05-02T00:00:00");
await page.fill("#end", "2024-05-01T00:00:00");
await page.click("button[type=submit]");
await page.waitForSelector("#range-error:not([hidden])");
assert.match(await page.locator("#range-error").textContent(), /before the start/);
assert.match(page.url(), /\/search$/);

// 4. The dashboard, and a chart link that leads to the matching search.
await page.goto(`${url}/?start=90d`);
await page.waitForSelector("figure.chart svg");
assert.ok((await page.locator("figure.chart svg rect").count()) > 10, "charts have no bars");
await shot("dashboard");
const segment = page.locator("figure.chart svg a").filter({ has: page.locator("rect") }).first();
const href = await segment.getAttribute("href");
assert.match(href, /^\/search\?/);
await Promise.all([page.waitForURL(/\/search\?/), segment.click()]);
assert.ok((await rows.count()) > 0, `chart link ${href} found nothing`);
await shot("chart-link");

// 5. User page, SQL console.
await page.goto(`${url}/users/mallory`);
assert.match(await page.locator("h1").textContent(), /mallory/);
await shot("user");
await page.goto(`${url}/sql`);
await page.click("details.examples a >> nth=0");
await page.waitForSelector("#sql-results tbody tr");
await shot("sql");

// Dark mode renders too.
await page.emulateMedia({ colorScheme: "dark" });
await page.goto(`${url}/?start=90d`);
await shot("dashboard-dark");

assert.deepEqual(errors, [], "the pages logged errors (CSP violations included)");
await browser.close();
console.log(`browser: all checks passed; screenshots in ${shots}`);
