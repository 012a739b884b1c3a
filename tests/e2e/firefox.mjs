// The web UI in a real headless Firefox (Debian's firefox-esr), driven by puppeteer-core
// over WebDriver BiDi: the pages' forms, their JavaScript, the charts and the colour
// schemes work in Gecko as they do in Chromium (browser.mjs holds the fuller tour), and
// the pages fit a phone-sized screen.
// Usage: node firefox.mjs URL SCREENSHOT_DIR
import puppeteer from "puppeteer-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const [url, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const password = process.env.AUDITWATCH_E2E_ADMIN_PASSWORD;
assert.ok(password, "AUDITWATCH_E2E_ADMIN_PASSWORD is not set");

/** Firefox with a colour scheme forced by preference (0 dark, 1 light). */
const launch = (scheme) => puppeteer.launch({
  browser: "firefox",
  executablePath: process.env.FIREFOX || "/usr/bin/firefox-esr",
  headless: true,
  extraPrefsFirefox: { "layout.css.prefers-color-scheme.content-override": scheme },
});

/** A signed-in page whose errors (script, console, HTTP >= 400) are collected. */
async function signedIn(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${url}/search`);
  assert.match(page.url(), /\/login\?next=%2Fsearch/);
  await page.type("input[name=name]", "admin");
  await page.type("input[name=password]", password);
  await Promise.all([page.waitForNavigation(), page.click("form[action='/login'] button[type=submit]")]);
  assert.match(page.url(), /\/search$/);
  return { page, errors };
}

const setValue = (page, selector, value) => page.$eval(selector, (el, v) => {
  el.value = v;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}, value);
const texts = (page, selector) => page.$$eval(selector, (els) => els.map((e) => e.textContent.trim()));

const browser = await launch(1);
const version = await browser.version();
assert.match(version, /firefox/i, version);
const { page, errors } = await signedIn(browser);

// 1. The search form, driven from the keyboard: attribute, value, Enter submits.
await setValue(page, "#start", "2000-01-01T00:00:00");
await setValue(page, "#end", "2100-01-01T00:00:00");
await page.select("select[name=attr]", "EventName");
await page.click("input[name=value]");
await page.keyboard.type("GetSecretValue");
await page.select("select[name=limit]", "25");
await page.focus("input[name=value]");
await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
assert.match(page.url(), /attr=EventName/);
assert.match(page.url(), /value=GetSecretValue/);
const names = await texts(page, "#results tbody td[data-col='2']");
assert.ok(names.length > 0 && names.length <= 25, `${names.length} rows`);
assert.ok(names.every((n) => n === "GetSecretValue"), names.join(","));
await page.screenshot({ path: `${shots}/firefox-search.png`, fullPage: true });

// The column chooser hides a column and remembers it; sorting asks the server for the oldest first.
await page.click("details.columns summary");
await page.click("details.columns input[data-col='8']");
const hidden = await page.$eval("#results th[data-col='8']", (th) => getComputedStyle(th).display);
assert.equal(hidden, "none");
await page.click("details.columns input[data-col='8']");
const times = await texts(page, "#results tbody td[data-col='0']");
assert.deepEqual(times, [...times].sort().reverse(), "newest first");
await Promise.all([page.waitForNavigation(), page.click("#sort-oldest")]);
assert.match(page.url(), /order=oldest/);
assert.match(page.url(), /value=GetSecretValue/);
const ascending = await texts(page, "#results tbody td[data-col='0']");
assert.ok(ascending.length > 0);
assert.deepEqual(ascending, [...ascending].sort(), "oldest first");

// "+ condition" from the keyboard adds a row and moves the focus into it.
await page.goto(`${url}/search`);
await page.focus("#add-condition");
await page.keyboard.press("Enter");
assert.equal((await page.$$(".condition")).length, 2);
assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Attribute 2");

// 2. An end before the start is refused by the page's script, with a message.
await setValue(page, "#start", "2024-05-02T00:00:00");
await setValue(page, "#end", "2024-05-01T00:00:00");
await page.click("main button[type=submit]");
await page.waitForSelector("#range-error:not([hidden])");
assert.match(await page.$eval("#range-error", (e) => e.textContent), /before the start/);
assert.match(page.url(), /\/search$/);

// 3. An event's page: the record pretty-printed, the "around this time" link.
await page.goto(`${url}/search?attr=EventName&value=GetSecretValue&start=2000-01-01T00:00:00&end=2100-01-01T00:00:00`);
await Promise.all([page.waitForNavigation(), page.click("#results tbody td[data-col='0'] a")]);
assert.match(page.url(), /\/events\//);
const eventId = decodeURIComponent(page.url().split("/events/")[1].split(/[?#]/)[0]);
assert.match(await page.$eval(".json", (e) => e.textContent), /"eventName": "GetSecretValue"/);
assert.ok(await page.$("#around"), "no link to the principal's activity around this time");

// 4. The dashboard's SVG charts render, and a bar leads to the matching search.
await page.goto(`${url}/?start=90d`);
await page.waitForSelector("figure.chart svg");
const bars = await page.$$eval("figure.chart svg rect", (rs) => rs.filter((r) => r.getBBox().width > 0).length);
assert.ok(bars > 10, `${bars} bars drawn`);
await page.screenshot({ path: `${shots}/firefox-dashboard.png`, fullPage: true });
const href = await page.$eval("figure.chart svg a rect", (r) => r.closest("a").getAttribute("href"));
assert.match(href, /^\/search\?/);
await Promise.all([page.waitForNavigation(), page.click("figure.chart svg a rect")]);
assert.match(page.url(), /\/search\?/);
assert.ok((await page.$$("#results tbody tr")).length > 0, `chart link ${href} found nothing`);
const light = await page.$eval("body", (b) => getComputedStyle(b).backgroundColor);

// On a phone-sized screen nothing but the results table (which scrolls in its own box)
// is wider than the screen.
await page.setViewport({ width: 390, height: 844 });
for (const path of ["/search?attr=EventName&value=GetSecretValue&start=2000-01-01T00:00:00",
                    "/?start=90d", `/events/${encodeURIComponent(eventId)}`, "/sql"]) {
  await page.goto(url + path);
  const wide = await page.evaluate(() => [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter((e) => !e.closest(".table-wrap, .grid-wrap, table.data, pre"))
    .map((e) => `${e.tagName.toLowerCase()}.${e.getAttribute("class") || ""}`).slice(0, 5));
  assert.deepEqual(wide, [], `${path} is wider than a 390 px screen`);
}
await page.goto(`${url}/?start=90d`);
await page.screenshot({ path: `${shots}/firefox-dashboard-narrow.png`, fullPage: true });
assert.deepEqual(errors, [], "the pages logged errors (CSP violations included)");
await browser.close();

// 6. Dark mode by prefers-color-scheme: the same page on a dark background.
const dark = await launch(0);
const { page: darkPage, errors: darkErrors } = await signedIn(dark);
await darkPage.goto(`${url}/?start=90d`);
await darkPage.waitForSelector("figure.chart svg");
const background = await darkPage.$eval("body", (b) => getComputedStyle(b).backgroundColor);
const luminance = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b, 0) / 3;
assert.ok(luminance(background) < 80 && luminance(light) > 180, `dark ${background}, light ${light}`);
await darkPage.screenshot({ path: `${shots}/firefox-dashboard-dark.png`, fullPage: true });
assert.deepEqual(darkErrors, []);
await dark.close();
console.log(`firefox (${version}): all checks passed; screenshots in ${shots}`);
