// The README's screenshots, taken in headless Chromium from a running demo.
// Usage: node scripts/screenshots.mjs URL ADMIN_PASSWORD OUT_DIR
import { chromium } from "playwright-core";

const [url, password, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
await page.goto(`${url}/login`);
await page.fill("input[name=name]", "admin");
await page.fill("input[name=password]", password);
await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click("form[action='/login'] button[type=submit]")]);

await page.goto(`${url}/?start=7d`);
await page.screenshot({ path: `${out}/dashboard.png` });

await page.goto(`${url}/search?start=7d&username=mallory`);
await page.locator("section.results").scrollIntoViewIfNeeded();
await page.evaluate(() => window.scrollTo(0, document.querySelector("ul.chips").getBoundingClientRect().top + window.scrollY - 10));
await page.screenshot({ path: `${out}/search.png` });

const event = await page.locator("#results tbody td[data-col='0'] a").first().getAttribute("href");
await page.goto(url + event);
await page.screenshot({ path: `${out}/event.png` });
await browser.close();
