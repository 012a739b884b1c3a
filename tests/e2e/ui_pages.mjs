// Every page of the web UI in a real headless Chromium (playwright-core), at phone,
// tablet and desktop widths, light and dark (issue 27):
//   1. per page, width and colour scheme: no horizontal overflow of the page, no chart
//      text under 11 CSS px, no table header or event field name broken inside a word,
//      axe-core (serious and critical violations; at 1440 light and 390 dark only),
//      screenshots;
//   2. drill-down: the dashboard's links to searches open searches whose chips name
//      every filter of the link, which survive a change of the form, and whose total
//      is the API's count of the same filters;
//   3. facets: "+" keeps exactly the facet's count, "−" leaves exactly the rest;
//   4. keyboard only: the search form, a facet and a chart bar are reached with Tab,
//      and a chart's data table opens with Enter.
// Every failure is collected and all of them are listed at the end (exit code 1).
// Usage: node ui_pages.mjs URL SCREENSHOT_DIR   (admin password: AUDITWATCH_E2E_ADMIN_PASSWORD)
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

const [url, shots] = process.argv.slice(2);
if (!url || !shots) {
  console.error("usage: node ui_pages.mjs URL SCREENSHOT_DIR");
  process.exit(2);
}
const adminPassword = process.env.AUDITWATCH_E2E_ADMIN_PASSWORD;
if (!adminPassword) {
  console.error("AUDITWATCH_E2E_ADMIN_PASSWORD is not set");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const started = Date.now();

const WIDTHS = [390, 1024, 1440];
const HEIGHTS = { 390: 844, 1024: 768, 1440: 900 };
const SCHEMES = ["light", "dark"];
/** Where axe runs (it is slow): the desktop in light, the phone in dark. */
const AXE_AT = new Set(["1440-light", "390-dark"]);
/** The smallest chart text allowed, in CSS px. */
const MIN_CHART_PX = 11;

const failures = [];
const fail = (area, msg) => {
  failures.push(`[${area}] ${msg}`);
  console.log(`  FAIL [${area}] ${msg}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// ---------------------------------------------------------------- sign-in, discovery

/** Signs in with the form (retrying while the server restarts); the session's storage. */
async function signIn() {
  for (let attempt = 0; ; attempt++) {
    const ctx = await browser.newContext();
    try {
      const page = await ctx.newPage();
      await page.goto(`${url}/login`);
      await page.fill("input[name=name]", "admin");
      await page.fill("input[name=password]", adminPassword);
      await Promise.all([
        page.waitForURL((u) => !u.pathname.startsWith("/login")),
        page.click("form[action='/login'] button[type=submit]"),
      ]);
      return await ctx.storageState();
    } catch (e) {
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await ctx.close();
    }
  }
}
const storageState = await signIn();

/**
 * Goes to `path`, retrying a few times while the server is being restarted, and
 * signing in again if the session was lost meanwhile.
 */
async function go(page, path) {
  for (let attempt = 0; ; attempt++) {
    try {
      const target = path.startsWith("http") ? path : `${url}${path}`;
      let res = await page.goto(target, { waitUntil: "load" });
      if (new URL(page.url()).pathname === "/login" && !target.includes("/login")) {
        await page.fill("input[name=name]", "admin");
        await page.fill("input[name=password]", adminPassword);
        await Promise.all([
          page.waitForURL((u) => u.pathname !== "/login"),
          page.click("form[action='/login'] button[type=submit]"),
        ]);
        res = await page.goto(target, { waitUntil: "load" });
      }
      await page.evaluate(() => document.fonts.ready);
      return res;
    } catch (e) {
      if (attempt >= 10 || !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The number in the search page's total ("1,234 events"), or NaN. */
async function total(page) {
  const h = page.locator("#results-h");
  if (!(await h.count())) return NaN;
  const m = (await h.textContent()).match(/([\d,]+)\s+events?/);
  return m ? Number(m[1].replaceAll(",", "")) : NaN;
}

const disc = await browser.newContext({ storageState, viewport: { width: 1440, height: 900 } });
const dpage = await disc.newPage();
await go(dpage, "/search?start=2000-01-01");
const eventHref = await dpage.locator("#results tbody td[data-col='0'] a").first().getAttribute("href");
const eventNameFacet = dpage.locator("section.facet", { has: dpage.locator("h3", { hasText: /^Event name$/ }) });
const eventName = await eventNameFacet.locator("span.facet-value").first().getAttribute("title");
await go(dpage, "/users");
const userHref = await dpage.locator("main a[href^='/users/']").first().getAttribute("href");
await go(dpage, "/services");
const serviceHref = await dpage.locator("main a[href^='/services/']").first().getAttribute("href");
await go(dpage, "/alerts");
const alertHref = await dpage.locator("main a[href^='/alerts/']").first().getAttribute("href", { timeout: 1000 }).catch(() => null);
await go(dpage, "/alarms");
const alarmHref = await dpage.locator("main a[href^='/alarms/']").first().getAttribute("href", { timeout: 1000 }).catch(() => null);
await disc.close();
for (const [what, v] of [["an event link", eventHref], ["an event name facet", eventName],
                         ["a user link", userHref], ["a service link", serviceHref]]) {
  if (!v) fail("discovery", `no ${what} found; its page is not checked`);
}

/** [file name, path]: every page of the UI. */
const PAGES = [
  ["dashboard", "/"],
  ["search", "/search?start=2000-01-01"],
  ...(eventName ? [["search-eventname", `/search?start=2000-01-01&eventName=${encodeURIComponent(eventName)}`]] : []),
  ...(eventHref ? [["event", eventHref]] : []),
  ["users", "/users"],
  ...(userHref ? [["user", userHref]] : []),
  ["services", "/services"],
  ...(serviceHref ? [["service", serviceHref]] : []),
  ["alerts", "/alerts"],
  ...(alertHref ? [["alert", alertHref]] : []),
  ["alarms", "/alarms"],
  ...(alarmHref ? [["alarm", alarmHref]] : []),
  ["rules", "/rules"],
  ["integrity", "/integrity"],
  ["sources", "/sources"],
  ["sql", `/sql?q=${encodeURIComponent("SELECT * FROM events LIMIT 50")}`],
  ["admin-users", "/admin/users"],
  ["admin-audit", "/admin/audit"],
  ["about", "/about"],
  ["contact", "/contact"],
];

// ------------------------------------------------------------ in-page measurements
// These run inside the page (page.evaluate), so they are self-contained.

/** A short description of an element for the report. */
const DESCRIBE = `(el) => {
  let s = el.tagName.toLowerCase();
  if (el.id) s += "#" + el.id;
  const cls = typeof el.className === "string" ? el.className : (el.className && el.className.baseVal) || "";
  for (const c of cls.split(/\\s+/).filter(Boolean).slice(0, 3)) s += "." + c;
  const chain = [];
  for (let a = el.parentElement; a && a !== document.body && chain.length < 3; a = a.parentElement) {
    let p = a.tagName.toLowerCase();
    if (a.id) p += "#" + a.id;
    else {
      const ac = typeof a.className === "string" ? a.className : "";
      if (ac) p += "." + ac.split(/\\s+/)[0];
    }
    chain.unshift(p);
  }
  const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
  return (chain.length ? chain.join(" > ") + " > " : "") + s + (text ? ' "' + text + '"' : "");
}`;

/**
 * (a) The page is no wider than the window. When it is, the outermost elements that
 * stick out past the right edge (whose parent does not, and with no ancestor that
 * clips or scrolls horizontally), and text running out of its box, are named, to find
 * the cause.
 */
async function overflow(page) {
  return page.evaluate(`(() => {
    const describe = ${DESCRIBE};
    const W = window.innerWidth;
    const sw = document.documentElement.scrollWidth;
    if (sw <= W + 1) return null;
    const clipped = (el) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== "visible") return true;
      }
      return false;
    };
    const culprits = [];
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right + window.scrollX <= W + 1) continue;
      const p = el.parentElement;
      if (p && p !== document.body && p.getBoundingClientRect().right + window.scrollX > W + 1) continue;
      if (clipped(el)) continue;
      culprits.push(describe(el) + " (right edge at " + Math.round(r.right + window.scrollX) + " px, " + Math.round(r.width) + " px wide)");
    }
    // Text that runs out of a box that fits (a long line in a <pre>, an unbreakable
    // string) widens the page too, and is no element's box.
    const texts = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n; (n = walker.nextNode());) {
      const el = n.parentElement;
      if (!el || texts.has(el) || !n.data.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      const r = range.getBoundingClientRect();
      if (r.right + window.scrollX <= W + 1) continue;
      if (getComputedStyle(el).overflowX !== "visible" || clipped(el)) continue;
      let inWide = false;  // inside a box already named above
      for (let a = el; a && a !== document.body && !inWide; a = a.parentElement) {
        inWide = a.getBoundingClientRect().right + window.scrollX > W + 1;
      }
      if (inWide) continue;
      texts.add(el);
      culprits.push("the text of " + describe(el) + " (runs to " + Math.round(r.right + window.scrollX) + " px)");
    }
    return { scrollWidth: sw, innerWidth: W, culprits: culprits.slice(0, 4) };
  })()`);
}

/**
 * (b) Chart text as rendered: every element inside a figure.chart (or an <svg> chart
 * outside one, as on an alarm's page) that holds text (SVG text, bar labels and
 * values, y-axis labels, legend items, captions, the data table),
 * skipping what has display:none itself or above it (up to the figure) and SVG <title>
 * tooltips. The size is the computed font-size; inside an <svg> with a viewBox the
 * text is scaled with the picture, so it is multiplied by the rendered size over the
 * viewBox's (per preserveAspectRatio: meet = the smaller of the two ratios, slice =
 * the larger, none = the vertical one, which sets the glyphs' height), for each such
 * svg up the tree.
 */
async function smallChartText(page) {
  return page.evaluate(`(() => {
    const describe = ${DESCRIBE};
    const out = [];
    const hidden = (el, top) => {
      for (let a = el; a; a = a.parentElement) {
        if (getComputedStyle(a).display === "none") return true;
        if (a === top) break;
      }
      return false;
    };
    // The figures, and any other outermost <svg> with text (a chart drawn alone).
    const charts = [...document.querySelectorAll("figure.chart")];
    for (const svg of document.querySelectorAll("svg")) {
      if (!svg.closest("figure.chart") && !(svg.parentElement && svg.parentElement.closest("svg")) && svg.querySelector("text")) charts.push(svg);
    }
    for (const fig of charts) {
      const seen = new Set();
      const walker = document.createTreeWalker(fig, NodeFilter.SHOW_TEXT);
      for (let n; (n = walker.nextNode());) {
        if (!n.textContent.trim()) continue;
        const el = n.parentElement;
        if (!el || seen.has(el)) continue;
        seen.add(el);
        if (el.closest("title")) continue;
        if (hidden(el, fig)) continue;
        let px = parseFloat(getComputedStyle(el).fontSize);
        let scale = 1;
        for (let svg = el.closest("svg"); svg; svg = svg.parentElement && svg.parentElement.closest("svg")) {
          const vb = svg.viewBox && svg.viewBox.baseVal;
          if (!svg.hasAttribute("viewBox") || !vb || !vb.width || !vb.height) continue;
          const r = svg.getBoundingClientRect();
          const sx = r.width / vb.width, sy = r.height / vb.height;
          const par = svg.preserveAspectRatio.baseVal;
          if (par.align === 1 /* none */) scale *= sy;
          else if (par.meetOrSlice === 2 /* slice */) scale *= Math.max(sx, sy);
          else scale *= Math.min(sx, sy);
        }
        px *= scale;
        if (px < ${MIN_CHART_PX} - 0.01) {
          out.push({ chart: fig.id || fig.tagName.toLowerCase(), what: describe(el), px: Math.round(px * 100) / 100 });
        }
      }
    }
    return out;
  })()`);
}

/**
 * (c) Header cells (event field names included) never broken inside a word. The
 * cell's own height says nothing (a cell is as tall as its row, and rows grow with
 * their other cells), so the lines of each word are counted instead: a Range over
 * one word of a text node gives one client rect per line fragment of that word; a
 * rect whose vertical middle lies below the bottom of the line before starts a new
 * line. A word on more than one line was broken inside (a one-word header that wraps
 * at all is one of them). Cells not rendered (display:none, a closed <details>) are
 * skipped.
 */
async function brokenHeaders(page) {
  return page.evaluate(`(() => {
    const describe = ${DESCRIBE};
    const out = [];
    const linesOf = (range) => {
      const boxes = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
      boxes.sort((a, b) => a.top - b.top);
      let lines = 0, bottom = -Infinity;
      for (const r of boxes) {
        if ((r.top + r.bottom) / 2 > bottom) { lines++; bottom = r.bottom; }
        else bottom = Math.max(bottom, r.bottom);
      }
      return lines;
    };
    for (const th of document.querySelectorAll("th")) {
      if (!th.checkVisibility()) continue;
      const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
      for (let n; (n = walker.nextNode());) {
        for (const m of n.data.matchAll(/\\S+/g)) {
          const range = document.createRange();
          range.setStart(n, m.index);
          range.setEnd(n, m.index + m[0].length);
          const lines = linesOf(range);
          if (lines > 1) {
            const table = th.closest("table");
            const kind = table && table.classList.contains("fields") ? "event field name" : "table header";
            out.push({ kind, text: th.textContent.trim().replace(/\\s+/g, " "), word: m[0], lines,
                       width: Math.round(th.getBoundingClientRect().width), what: describe(th) });
          }
        }
      }
    }
    return out;
  })()`);
}

/** (d) axe-core: violations of impact serious or critical. */
async function axeViolations(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({
        id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
        targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
        detail: (v.nodes[0] && v.nodes[0].any && v.nodes[0].any[0] && v.nodes[0].any[0].message) || "",
      }));
  });
}

// ------------------------------------------------------------ 1. every page, every size

console.log(`ui_pages: ${PAGES.length} pages x ${WIDTHS.length} widths x ${SCHEMES.length} schemes`);
for (const width of WIDTHS) {
  for (const scheme of SCHEMES) {
    const combo = `${width}-${scheme}`;
    const withAxe = AXE_AT.has(combo);
    // axe is injected as a script, which the pages' Content-Security-Policy (script-src
    // 'self') refuses: the CSP is bypassed in the contexts where axe runs only.
    const ctx = await browser.newContext({
      storageState, viewport: { width, height: HEIGHTS[width] }, colorScheme: scheme, bypassCSP: withAxe,
    });
    const page = await ctx.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    for (const [name, path] of PAGES) {
      const where = `${name} ${path} @ ${combo}`;
      pageErrors.length = 0;
      let res;
      try {
        res = await go(page, path);
      } catch (e) {
        fail("load", `${where}: ${String(e).split("\n")[0]}`);
        continue;
      }
      if (!res || res.status() !== 200) fail("load", `${where}: HTTP ${res ? res.status() : "no response"}`);

      const o = await overflow(page);
      if (o) {
        fail("overflow", `${where}: page is ${o.scrollWidth} px wide in a ${o.innerWidth} px window; sticking out: ` +
          (o.culprits.length ? o.culprits.join("; ") : "(no single element found)"));
      }
      const small = await smallChartText(page);
      if (small.length) {
        const byChart = new Map();
        for (const s of small) byChart.set(s.chart, [...(byChart.get(s.chart) || []), s]);
        for (const [chart, list] of byChart) {
          const sizes = [...new Set(list.map((s) => s.px))].sort((a, b) => a - b);
          fail("chart-text", `${where}: chart #${chart}: ${list.length} text elements below ${MIN_CHART_PX} px ` +
            `(sizes ${sizes.join(", ")} px), e.g. ${list.slice(0, 2).map((s) => `${s.what} at ${s.px} px`).join("; ")}`);
        }
      }
      for (const b of await brokenHeaders(page)) {
        fail("header-wrap", `${where}: ${b.kind} "${b.text}": the word "${b.word}" is broken over ${b.lines} lines ` +
          `(cell ${b.width} px wide): ${b.what}`);
      }
      if (withAxe) {
        try {
          for (const v of await axeViolations(page)) {
            fail("axe", `${where}: ${v.id} (${v.impact}) on ${v.count} element(s): ${v.help}` +
              `${v.detail ? ` — ${v.detail}` : ""}; targets: ${v.targets.join(" | ")}`);
          }
        } catch (e) {
          fail("axe", `${where}: axe did not run: ${String(e).split("\n")[0]}`);
        }
      }
      for (const e of pageErrors) fail("script", `${where}: ${e}`);
      await page.screenshot({ path: `${shots}/${name}-${width}-${scheme}.png` });
      if (combo === "1440-light") await page.screenshot({ path: `${shots}/${name}-${width}-${scheme}-full.png`, fullPage: true });
    }
    await ctx.close();
    console.log(`  ${combo} done (${Math.round((Date.now() - started) / 1000)} s)`);
  }
}

// ------------------------------------------------------------ API counts

/** The search filters of a /search URL (without paging, order and page size). */
function filtersOf(href) {
  const u = new URL(href, url);
  const p = new URLSearchParams();
  for (const [k, v] of u.searchParams) if (!["cursor", "back", "limit", "order"].includes(k)) p.append(k, v);
  return p;
}

/**
 * The API's count of the filters of `href`: the sum of /api/v1/histogram's buckets,
 * and, for fewer than 5,000 events, the rows /api/v1/events pages through. Returns
 * { histogram, rows } (rows null when not paged) or an error string.
 */
async function apiCount(request, href) {
  const f = filtersOf(href);
  const h = await request.get(`${url}/api/v1/histogram?${f}`);
  if (!h.ok()) return `GET /api/v1/histogram?${f}: HTTP ${h.status()} ${(await h.text()).slice(0, 200)}`;
  const histogram = (await h.json()).buckets.reduce((s, b) => s + b.count, 0);
  let rows = null;
  if (histogram < 5000) {
    rows = 0;
    let cursor = null;
    for (let pages = 0; pages < 20; pages++) {
      const p = new URLSearchParams(f);
      p.set("limit", "1000");
      if (cursor) p.set("cursor", cursor);
      const r = await request.get(`${url}/api/v1/events?${p}`);
      if (!r.ok()) return `GET /api/v1/events?${p}: HTTP ${r.status()} ${(await r.text()).slice(0, 200)}`;
      const body = await r.json();
      rows += body.events.length;
      cursor = body.nextCursor;
      if (!cursor) break;
    }
  }
  return { histogram, rows };
}

/** Fails unless the page's total equals the API's count of the same filters. */
async function checkTotal(area, page, label) {
  const shown = await total(page);
  if (Number.isNaN(shown)) {
    fail(area, `${label}: no total (#results-h) on ${page.url()}`);
    return;
  }
  const api = await apiCount(page.request, page.url());
  if (typeof api === "string") {
    fail(area, `${label}: ${api}`);
    return;
  }
  if (api.histogram !== shown) fail(area, `${label}: the page shows ${shown} events, /api/v1/histogram sums to ${api.histogram} (${page.url()})`);
  if (api.rows !== null && api.rows !== shown) fail(area, `${label}: the page shows ${shown} events, /api/v1/events pages through ${api.rows} (${page.url()})`);
  console.log(`  ${label}: ${shown} events; API: histogram ${api.histogram}, rows ${api.rows ?? "(not paged)"}`);
}

// ------------------------------------------------------------ 2. drill-down

/** The chip labels a search URL must show (search.rs `chips`), one per filter. */
function expectedChips(href) {
  const p = new URL(href, url).searchParams;
  const out = [];
  const plain = { start: "from", end: "to", q: "text", account: "account", region: "region",
                  errorCode: "errorCode", sourceIp: "sourceIp" };
  const named = { eventId: "EventId", eventName: "EventName", readOnly: "ReadOnly", username: "Username",
                  resourceType: "ResourceType", resourceName: "ResourceName", eventSource: "EventSource",
                  accessKeyId: "AccessKeyId" };
  for (const [k, v] of p) {
    if (!v.trim()) continue;
    if (plain[k]) out.push(`${plain[k]}: ${v.trim()}`);
    else if (named[k]) out.push(`${named[k]}: ${v}`);
    else if (k === "errors" && v === "true") out.push("with an error code");
    else if (k === "failed" && v === "true") out.push("failed calls");
    else if (k === "param") out.push(`requestParameters ${v}`);
    else if (k === "exclude") out.push(`NOT ${v}`);
  }
  const attrs = p.getAll("attr"), values = p.getAll("value");
  attrs.forEach((a, i) => { if (a || values[i]) out.push(`${a}: ${values[i] ?? ""}`); });
  return out;
}

/** Milliseconds of a time written as the search takes it (no zone = UTC), or NaN. */
function timeOf(v) {
  if (!/^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d:\d\d)?$/.test(v)) return NaN;
  return Date.parse(/T/.test(v) && !/(Z|[+-]\d\d:\d\d)$/.test(v) ? `${v}Z` : v);
}

/**
 * Whether `chips` holds `want`. The form writes a time back as its datetime-local
 * input holds it (to the second, no zone), so a "from:"/"to:" chip matches the same
 * instant within a second.
 */
function hasChip(chips, want) {
  if (chips.includes(want)) return true;
  const m = want.match(/^(from|to): (.*)$/);
  if (!m) return false;
  const t = timeOf(m[2]);
  if (Number.isNaN(t)) return false;
  return chips.some((c) => {
    const n = c.match(/^(from|to): (.*)$/);
    return n && n[1] === m[1] && Math.abs(timeOf(n[2]) - t) < 1000;
  });
}

const chipTexts = async (page) =>
  (await page.locator("ul.chips li span").allTextContents()).map((t) => t.trim().replace(/\s+/g, " "));

{
  console.log("ui_pages: drill-down from the dashboard");
  const ctx = await browser.newContext({ storageState, viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  await go(page, "/");
  const links = [];
  for (const [kind, sel] of [["chart", "figure.chart a[href^='/search']"], ["totals", "ul.totals a[href^='/search']"],
                             ["unusual", "section.unusual a[href^='/search']"]]) {
    const found = await page.locator(sel).evaluateAll((els) =>
      els.map((e) => ({ href: e.getAttribute("href"), chart: (e.closest("figure.chart") || {}).id || "" })));
    for (const { href, chart } of found) links.push({ kind: kind === "chart" ? `chart #${chart}` : kind, href });
  }
  // Up to 8, as different as possible: one link per (where, which filters), taken in
  // turn from the charts, the totals and the unusual-activity panel.
  const sig = (l) => `${l.kind}|${[...new URL(l.href, url).searchParams.keys()].sort().join(",")}`;
  const seen = new Set();
  const bySource = { chart: [], totals: [], unusual: [] };
  for (const l of links) {
    if (seen.has(sig(l))) continue;
    seen.add(sig(l));
    bySource[l.kind.startsWith("chart") ? "chart" : l.kind].push(l);
  }
  const picked = [];
  for (let i = 0; picked.length < 8 && i < links.length; i++) {
    for (const src of Object.values(bySource)) if (src[i] && picked.length < 8) picked.push(src[i]);
  }
  if (picked.length === 0) fail("drill-down", "the dashboard has no links to /search");
  for (const { kind, href } of picked) {
    const label = `dashboard ${kind} link ${decodeURIComponent(href)}`;
    await go(page, href);
    const want = expectedChips(href);
    const chips = await chipTexts(page);
    console.log(`  ${label}: chips ${JSON.stringify(chips)}`);
    for (const w of want) {
      if (!hasChip(chips, w)) fail("drill-down", `${label}: no chip "${w}" (chips: ${JSON.stringify(chips)})`);
    }
    await checkTotal("drill-down", page, label);
    // Change the form: "With an error code" if not ticked yet, else one more condition.
    let added;
    const errorsBox = page.locator("#search-form input[name=errors]");
    if (!(await errorsBox.isChecked())) {
      await errorsBox.check();
      added = "with an error code";
    } else {
      await page.click("#add-condition");
      await page.locator("#search-form .condition select[name=attr]").last().selectOption("ReadOnly");
      await page.locator("#search-form .condition input[name=value]").last().fill("true");
      added = "ReadOnly: true";
    }
    const before = page.url();
    await Promise.all([
      page.waitForURL((u) => u.href !== before, { timeout: 15000 }).catch(() => {}),
      page.click("#search-form button[type=submit]"),
    ]);
    await page.waitForLoadState("load");
    if (page.url() === before) {
      fail("drill-down", `${label}: submitting the form with "${added}" did not search`);
      continue;
    }
    const after = await chipTexts(page);
    for (const w of want) {
      if (!hasChip(after, w)) {
        fail("drill-down", `${label}: after ticking "${added}" and submitting, the filter "${w}" is lost ` +
          `(URL ${decodeURIComponent(page.url().replace(url, ""))}; chips: ${JSON.stringify(after)})`);
      }
    }
    if (!hasChip(after, added)) fail("drill-down", `${label}: after submitting, no chip "${added}" (chips: ${JSON.stringify(after)})`);
    await checkTotal("drill-down", page, `${label} + ${added}`);
  }
  await ctx.close();
}

// ------------------------------------------------------------ 3. facets

{
  console.log("ui_pages: facets");
  const ctx = await browser.newContext({ storageState, viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  const base = "/search?start=2000-01-01";
  await go(page, base);
  const T = await total(page);
  if (Number.isNaN(T)) fail("facets", `${base}: no total`);
  await checkTotal("facets", page, base);
  const headings = (await page.locator("aside.facets section.facet h3").allTextContents()).map((h) => h.trim());
  if (!headings.includes("Event name")) fail("facets", `${base}: no "Event name" facet (facets: ${JSON.stringify(headings)})`);
  // Event name first (the issue's case), then the first value of every other facet.
  for (const heading of ["Event name", ...headings.filter((h) => h !== "Event name")]) {
    await go(page, base);
    const section = page.locator("aside.facets section.facet", { has: page.locator("h3", { hasText: new RegExp(`^${heading}$`) }) });
    const first = section.locator("li").first();
    if (!(await first.count())) {
      if (heading === "Event name") fail("facets", `${base}: the "Event name" facet lists no values`);
      continue;
    }
    const value = await first.locator("span.facet-value").getAttribute("title");
    const C = Number((await first.locator("span.facet-count").textContent()).trim().replaceAll(",", ""));
    const what = `facet ${heading} = ${value} (count ${C}, total ${T})`;
    await Promise.all([page.waitForURL((u) => u.href !== `${url}${base}`), first.locator("a.facet-in").click()]);
    const only = await total(page);
    if (only !== C) fail("facets", `${what}: "+" shows ${only} events, not ${C} (${decodeURIComponent(page.url().replace(url, ""))})`);
    await checkTotal("facets", page, `${what} "+"`);
    await page.goBack({ waitUntil: "load" });
    if (!page.url().endsWith(base)) await go(page, base);
    await Promise.all([page.waitForURL((u) => u.href !== `${url}${base}`),
                       page.locator("aside.facets section.facet", { has: page.locator("h3", { hasText: new RegExp(`^${heading}$`) }) })
                         .locator("li").first().locator("a.facet-out").click()]);
    const rest = await total(page);
    if (rest !== T - C) fail("facets", `${what}: "−" shows ${rest} events, not ${T} − ${C} = ${T - C} (${decodeURIComponent(page.url().replace(url, ""))})`);
    await checkTotal("facets", page, `${what} "−"`);
  }
  await ctx.close();
}

// ------------------------------------------------------------ 4. keyboard only

/** What has the focus, as the keyboard test needs it. */
const focused = (page) => page.evaluate(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  return {
    tag: el.tagName.toLowerCase(), id: el.id || "",
    text: (el.getAttribute("aria-label") || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 50),
    start: el.id === "start",
    submit: el.matches("#search-form button[type=submit]"),
    facetIn: el.matches("a.facet-in"),
    chartBar: !!el.closest("figure.chart svg a") && el.matches("figure.chart svg a"),
    altSummary: el.matches("details.alt > summary"),
  };
});

{
  console.log("ui_pages: keyboard only");
  const ctx = await browser.newContext({ storageState, viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  await go(page, "/search");
  const need = { start: "the Start input (#start)", submit: "the Search button", facetIn: "a facet \"+\" link",
                 chartBar: "a chart bar link (figure.chart svg a)" };
  const reached = new Map();
  let presses = 0;
  for (; presses < 200 && reached.size < Object.keys(need).length; presses++) {
    await page.keyboard.press("Tab");
    const f = await focused(page);
    if (!f) continue;
    for (const k of Object.keys(need)) if (f[k] && !reached.has(k)) reached.set(k, presses + 1);
  }
  for (const [k, what] of Object.entries(need)) {
    if (!reached.has(k)) fail("keyboard", `/search: ${what} not reached in ${presses} presses of Tab`);
    else console.log(`  /search: ${what} after ${reached.get(k)} Tab presses`);
  }

  await go(page, "/");
  let opened = false, found = false;
  for (presses = 0; presses < 200; presses++) {
    await page.keyboard.press("Tab");
    const f = await focused(page);
    if (f && f.altSummary) {
      found = true;
      console.log(`  /: a chart's data table summary after ${presses + 1} Tab presses ("${f.text}")`);
      await page.keyboard.press("Enter");
      opened = await page.evaluate(() => document.activeElement.closest("details").open);
      if (!opened) fail("keyboard", `/: Enter on "${f.text}" did not open its data table`);
      break;
    }
  }
  if (!found) fail("keyboard", `/: no chart data table (details.alt summary) reached in ${presses} presses of Tab`);
  await ctx.close();
}

await browser.close();
const secs = Math.round((Date.now() - started) / 1000);
if (failures.length) {
  const groups = new Map();
  for (const f of failures) {
    const g = f.match(/^\[([^\]]+)\]/)[1];
    groups.set(g, (groups.get(g) || 0) + 1);
  }
  console.log(`\nui_pages: ${failures.length} failures in ${secs} s (${[...groups].map(([g, n]) => `${g}: ${n}`).join(", ")}):`);
  for (const f of failures) console.log(`  - ${f}`);
  console.log(`screenshots in ${shots}`);
  process.exitCode = 1;
} else {
  console.log(`ui_pages: all checks passed in ${secs} s; screenshots in ${shots}`);
}
