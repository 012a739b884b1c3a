// The web UI in a real headless Chromium, driven by playwright-core.
// Usage: node browser.mjs URL SCREENSHOT_DIR AUDITWATCH_BIN DATA_DIR
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, shots, bin, dataDir] = process.argv.slice(2);
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

// 0. Sign-in: an anonymous visit goes to the sign-in page and comes back after it.
const adminPassword = process.env.AUDITWATCH_E2E_ADMIN_PASSWORD;
assert.ok(adminPassword, "AUDITWATCH_E2E_ADMIN_PASSWORD is not set");
await page.goto(`${url}/search`);
assert.match(page.url(), /\/login\?next=%2Fsearch/);
await page.fill("input[name=name]", "admin");
await page.fill("input[name=password]", "not the password");
await page.click("form[action='/login'] button[type=submit]");
assert.match(await page.locator("p.error").textContent(), /Wrong name, password or code/);
errors.length = 0; // the refused sign-in answered 401 on purpose
await page.fill("input[name=name]", "admin");
await page.fill("input[name=password]", adminPassword);
await Promise.all([page.waitForURL(/\/search$/), page.click("form[action='/login'] button[type=submit]")]);
const cookies = await page.context().cookies();
const session = cookies.find((c) => c.name === "auditwatch");
assert.ok(session && session.httpOnly && session.sameSite === "Lax", JSON.stringify(cookies));

// 1. The search form: dates, an attribute and its value, max results.
await page.goto(`${url}/search`);
await page.fill("#start", "2000-01-01T00:00:00");
await page.fill("#end", "2100-01-01T00:00:00");
await page.selectOption("select[name=attr]", "EventName");
await page.fill("input[name=value]", "GetSecretValue");
await page.selectOption("select[name=limit]", "25");
await Promise.all([page.waitForURL(/eventName|attr=EventName/), page.click("main button[type=submit]")]);
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
// The record as a JSON viewer (folding), with its text kept for "Copy JSON".
await page.waitForSelector(".json details");
assert.match(await page.locator(".json").textContent(), /"eventName": "GetSecretValue"/);
// "Copy JSON" copies the record as delivered; the viewer shows its keys in its order.
const copied = JSON.parse(await page.locator("#record-text").textContent());
assert.equal(copied.eventName, "GetSecretValue");
const shownKeys = await page.evaluate(() =>
  [...document.querySelector(".json > details").children]
    .filter((c) => c.tagName !== "SUMMARY")
    .map((c) => (c.tagName === "DETAILS" ? c.querySelector("summary .k") : c.querySelector(".k")).textContent.replaceAll('"', "")),
);
assert.deepEqual(shownKeys, Object.keys(copied));
assert.ok(await page.locator("#around").count(), "no link to the principal's activity around this time");
await shot("event");

// 3. Date validation: an end before the start is refused with a message.
await page.goto(`${url}/search`);
await page.fill("#start", "2024-05-02T00:00:00");
await page.fill("#end", "2024-05-01T00:00:00");
await page.click("main button[type=submit]");
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

// Admin pages: the audit log shows this session's sign-in and searches.
await page.emulateMedia({ colorScheme: "light" });
await page.goto(`${url}/admin/audit?action=search`);
assert.ok((await page.locator("table.data tbody tr").count()) > 0, "no audited searches");
await shot("audit-log");
await page.goto(`${url}/admin/users`);
assert.match(await page.locator("table.data").first().textContent(), /scoped/);
await shot("admin-users");

// Integrity: the page renders (no results in this data directory yet).
await page.goto(`${url}/integrity`);
assert.match(await page.locator("h1").textContent(), /Integrity/);
assert.match(await page.locator("main").textContent(), /auditwatch verify/);

// Sources: an admin declares one with the page's form (TOML), sees it, removes it.
await page.goto(`${url}/sources`);
await page.fill("textarea[name=table]",
  'name = "browser-trail"\nkind = "s3"\nbucket = "browser-declared-bucket"\ninterval_seconds = 3600\n');
await Promise.all([page.waitForURL(/\/sources$/), page.click("form[action='/sources'] button[type=submit]")]);
const row = page.locator("#sources tbody tr", { hasText: "browser-trail" });
assert.equal(await row.count(), 1, "the declared source is not listed");
assert.match(await row.textContent(), /s3:\/\/browser-declared-bucket\/.*by admin/s);
await shot("sources-declared");
await Promise.all([page.waitForURL(/\/sources$/), row.locator("button", { hasText: "Remove" }).click()]);
assert.equal(await page.locator("#sources tbody tr", { hasText: "browser-trail" }).count(), 0);

// Rules: test the secret-read pattern on recent events, save it as an alarm, switch
// it off and on; a fresh read then raises an alert the Alerts page shows and an
// analyst acknowledges.
await page.goto(`${url}/rules`);
assert.match(await page.locator("main").textContent(), /No alarms or rules yet/);
const secretRead = '{ ($.eventName = "GetSecretValue") && ($.requestParameters.secretId = "TopSecretInfo*") }';
await page.fill("textarea[name=filter_pattern]", secretRead);
await page.fill("input[name=start]", "30d");
await Promise.all([page.waitForURL(/\/rules\/test$/), page.click("button:has-text('Test against recent events')")]);
const tested = await page.locator("#test-summary").textContent();
const counts = tested.match(/([\d,]+) of ([\d,]+) events/);
const [matched, scanned] = counts ? [1, 2].map((i) => Number(counts[i].replaceAll(",", ""))) : [0, 0];
assert.ok(matched > 0 && scanned > matched, tested);
assert.ok((await page.locator("#test-matches tbody tr").count()) > 0, "no matches listed");
assert.match(await page.locator("#test-matches").textContent(), /GetSecretValue/);
assert.equal(await page.inputValue("textarea[name=filter_pattern]"), secretRead, "the form lost the pattern");
await shot("rules-test");
await page.fill("input[name=name]", "browser-secret-read");
await page.selectOption("select[name=treat_missing_data]", "notBreaching");
await Promise.all([page.waitForURL(/\/rules(#rules)?$/), page.click("button:has-text('Save alarm')")]);
const ruleRow = page.locator("#rules tbody tr[data-id='browser-secret-read']");
assert.match(await ruleRow.textContent(), /UI.*enabled.*admin/s);
await Promise.all([page.waitForURL(/\/rules(#rules)?$/), ruleRow.locator("button", { hasText: "Disable" }).click()]);
assert.match(await ruleRow.locator("td.state").textContent(), /disabled/);
await Promise.all([page.waitForURL(/\/rules(#rules)?$/), ruleRow.locator("button", { hasText: "Enable" }).click()]);
assert.match(await ruleRow.locator("td.state").textContent(), /enabled/);
await shot("rules");
// A read happening now, ingested by the command line while the server runs.
const fresh = mkdtempSync(join(tmpdir(), "aw-browser-"));
const account = process.env.AUDITWATCH_E2E_SCOPED_ACCOUNT;
const freshId = `b0000000-0000-4000-8000-${Date.now().toString().padStart(12, "0").slice(-12)}`;
writeFileSync(join(fresh, "fresh.json"), JSON.stringify({ Records: [{
  eventVersion: "1.08", eventID: freshId, eventTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  eventType: "AwsApiCall", eventSource: "secretsmanager.amazonaws.com", eventName: "GetSecretValue",
  awsRegion: "us-east-1", sourceIPAddress: "198.51.100.77", recipientAccountId: account,
  userIdentity: { type: "IAMUser", userName: "browser-mallory", accountId: account, arn: `arn:aws:iam::${account}:user/browser-mallory` },
  requestParameters: { secretId: "TopSecretInfo" },
}] }));
for (let attempt = 0; ; attempt++) {
  try {
    execFileSync(bin, ["--data-dir", dataDir, "ingest", fresh], { stdio: "pipe" });
    break;
  } catch (e) {
    // Maintenance may hold the lake's writer lock for a moment.
    if (attempt >= 20) throw e;
    await new Promise((r) => setTimeout(r, 500));
  }
}
let alertRow;
for (let i = 0; i < 60; i++) {
  await page.goto(`${url}/alerts`);
  alertRow = page.locator("#alerts tbody tr", { hasText: "browser-secret-read" });
  if (await alertRow.count()) break;
  await new Promise((r) => setTimeout(r, 500));
}
assert.equal(await alertRow.count(), 1, "the fresh read raised no alert within 30 s");
assert.match(await alertRow.textContent(), /critical|high/);
await shot("alerts");
await Promise.all([page.waitForURL(/\/alerts\/\d+$/), alertRow.locator("a").first().click()]);
assert.equal(await page.locator(`#alert-events a[href='/events/${freshId}']`).count(), 1, "the alert lists the fresh read");
await Promise.all([page.waitForURL(/\/alerts\/\d+$/), page.click("button:has-text('Acknowledge')")]);
assert.match(await page.locator("#status").textContent(), /acknowledged \(by admin\)/);
await shot("alert");
await page.goto(`${url}/alarms/browser-secret-read`);
await page.waitForSelector("svg#metric rect");
assert.match(await page.locator("#state").textContent(), /ALARM/);

// Sign-out ends the session: the next visit asks to sign in again.
await Promise.all([page.waitForURL(/\/login$/), page.click("form.signout button")]);
await page.goto(`${url}/search`);
assert.match(page.url(), /\/login\?next=/);
assert.deepEqual(errors, [], "the pages logged errors (CSP violations included)");

// A viewer limited by role: no SQL in the menu, and the console is refused.
const viewer = await browser.newPage();
await viewer.goto(`${url}/login`);
await viewer.fill("input[name=name]", "viewer");
await viewer.fill("input[name=password]", process.env.AUDITWATCH_E2E_VIEWER_PASSWORD);
await Promise.all([viewer.waitForURL((u) => !u.pathname.startsWith("/login")), viewer.click("form[action='/login'] button[type=submit]")]);
assert.equal(await viewer.locator("nav a[href='/sql']").count(), 0);
const refused = await viewer.goto(`${url}/sql`);
assert.equal(refused.status(), 403);

// An analyst limited to one account sees only that account on the dashboard.
const scoped = await browser.newPage();
await scoped.goto(`${url}/login?next=/sql`);
await scoped.fill("input[name=name]", "scoped");
await scoped.fill("input[name=password]", process.env.AUDITWATCH_E2E_SCOPED_PASSWORD);
await Promise.all([scoped.waitForURL(/\/sql$/), scoped.click("form[action='/login'] button[type=submit]")]);
await scoped.goto(`${url}/sql?q=${encodeURIComponent("SELECT DISTINCT accountId FROM events")}`);
await scoped.waitForSelector("#sql-results tbody tr");
const accounts = (await scoped.locator("#sql-results tbody td").allTextContents()).map((t) => t.trim());
assert.deepEqual(accounts, [process.env.AUDITWATCH_E2E_SCOPED_ACCOUNT]);

// Single sign-on through a real OpenID provider: the provider's sign-in and consent
// pages, back with role and accounts from the groups claim.
const sso = await browser.newPage();
await sso.goto(`${url}/login?next=/sql`);
await Promise.all([sso.waitForURL(/127\.0\.0\.1:\d+\/interaction\//), sso.click("text=Sign in with E2E IdP")]);
await sso.fill("input[name=login]", "alice");
await sso.fill("input[name=password]", "anything");
await sso.click("button[type=submit]");
await sso.waitForSelector("button[type=submit]:has-text('Continue')");
await Promise.all([sso.waitForURL(/\/sql$/), sso.click("button[type=submit]")]);
assert.match(await sso.locator("span.who").textContent(), /alice \(analyst\)/);
await sso.goto(`${url}/sql?q=${encodeURIComponent("SELECT DISTINCT accountId FROM events")}`);
await sso.waitForSelector("#sql-results tbody tr");
const ssoAccounts = (await sso.locator("#sql-results tbody td").allTextContents()).map((t) => t.trim());
assert.deepEqual(ssoAccounts, [process.env.AUDITWATCH_E2E_SCOPED_ACCOUNT]);
await sso.screenshot({ path: `${shots}/sso-signed-in.png`, fullPage: true });
// A user whose groups grant nothing is refused, and nothing is created for them.
const nobody = await browser.newPage();
await nobody.goto(`${url}/login`);
await Promise.all([nobody.waitForURL(/\/interaction\//), nobody.click("text=Sign in with E2E IdP")]);
await nobody.fill("input[name=login]", "mallet");
await nobody.fill("input[name=password]", "anything");
await nobody.click("button[type=submit]");
await nobody.waitForSelector("button[type=submit]:has-text('Continue')");
const [refusal] = await Promise.all([
  nobody.waitForResponse((r) => r.url().includes("/login/oidc/callback")),
  nobody.click("button[type=submit]"),
]);
assert.equal(refusal.status(), 403);
assert.match(await nobody.locator("p.error").textContent(), /grants an Auditwatch role/);
await browser.close();
console.log(`browser: all checks passed; screenshots in ${shots}`);
