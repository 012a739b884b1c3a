// Auditwatch: a little plain JavaScript on top of pages that work without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Search form: refuse an end before the start, with a clear message.
  const form = document.getElementById("search-form");
  if (form) {
    const start = document.getElementById("start");
    const end = document.getElementById("end");
    const msg = document.getElementById("range-error");
    form.addEventListener("submit", (ev) => {
      if (start.value && end.value && end.value < start.value) {
        ev.preventDefault();
        msg.textContent = "The end (" + end.value + ") is before the start (" + start.value + ").";
        msg.hidden = false;
        end.focus();
      }
    });
    // "+ condition" adds another attribute/value row.
    const add = document.getElementById("add-condition");
    if (add) {
      add.addEventListener("click", () => {
        const rows = form.querySelectorAll(".condition");
        const last = rows[rows.length - 1];
        const copy = last.cloneNode(true);
        copy.querySelectorAll("input").forEach((i) => { i.value = ""; });
        copy.querySelectorAll("select").forEach((s) => { s.selectedIndex = 0; });
        // Screen readers tell the rows apart by their numbered labels.
        const n = rows.length + 1;
        copy.querySelector("select").setAttribute("aria-label", "Attribute " + n);
        copy.querySelector("input").setAttribute("aria-label", "Value " + n);
        last.after(copy);
        copy.querySelector("select").focus();
      });
    }
  }

  // Column chooser: hide/show columns, remembered in this browser.
  const table = document.getElementById("results");
  if (table) {
    const key = "auditwatch.hiddenColumns";
    let hidden = [];
    try { hidden = JSON.parse(localStorage.getItem(key) || "[]"); } catch (_) { hidden = []; }
    document.querySelectorAll("details.columns input[data-col]").forEach((box) => {
      const col = box.dataset.col;
      const apply = () => table.classList.toggle("hide-" + col, !box.checked);
      box.checked = !hidden.includes(col);
      apply();
      box.addEventListener("change", () => {
        apply();
        hidden = Array.from(document.querySelectorAll("details.columns input[data-col]"))
          .filter((b) => !b.checked).map((b) => b.dataset.col);
        localStorage.setItem(key, JSON.stringify(hidden));
      });
    });
  }

  // Time histograms: dragging across one narrows the search to the dragged span (a
  // click on a bar still follows that bar's link).
  document.querySelectorAll("svg.timeline[data-lo]").forEach((svg) => {
    const lo = Number(svg.dataset.lo), hi = Number(svg.dataset.hi);
    let from = null, band = null, dragged = false;
    const at = (ev) => {
      const r = svg.getBoundingClientRect();
      return Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
    };
    svg.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      from = at(ev);
      dragged = false;
      band = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      band.setAttribute("class", "band");
      band.setAttribute("y", "0");
      band.setAttribute("height", "150");
      band.setAttribute("width", "0");
      svg.appendChild(band);
    });
    svg.addEventListener("pointermove", (ev) => {
      if (from === null) return;
      const x = at(ev);
      if (Math.abs(x - from) > 0.01) dragged = true;
      band.setAttribute("x", (Math.min(x, from) * 100) + "%");
      band.setAttribute("width", (Math.abs(x - from) * 100) + "%");
    });
    const end = (ev) => {
      if (from === null) return;
      const x = at(ev), a = Math.min(x, from), b = Math.max(x, from);
      from = null;
      if (!dragged) { band.remove(); return; }
      const iso = (f) => new Date((lo + f * (hi - lo)) / 1000).toISOString().slice(0, 19) + "Z";
      const u = new URL(svg.dataset.href, location.href);
      u.searchParams.set("start", iso(a));
      u.searchParams.set("end", iso(b));
      u.searchParams.delete("cursor");
      u.searchParams.delete("back");
      location.href = u.toString();
    };
    svg.addEventListener("pointerup", end);
    // The click that ends a drag does not also follow the bar under the pointer.
    svg.addEventListener("click", (ev) => { if (dragged) { ev.preventDefault(); ev.stopPropagation(); } }, true);
  });

  // On a phone the facets start folded, so the results come first.
  const facetsBox = document.querySelector("details.facets-box");
  if (facetsBox && window.innerWidth < 600) facetsBox.open = false;

  // Copy buttons: the value in data-copy, or the text of the element data-copy-from names.
  document.querySelectorAll("button.copy").forEach((b) => {
    b.addEventListener("click", () => {
      const from = b.dataset.copyFrom && document.getElementById(b.dataset.copyFrom);
      const text = from ? from.textContent : (b.dataset.copy || "");
      if (!navigator.clipboard) return;
      navigator.clipboard.writeText(text).then(() => {
        b.classList.add("done");
        b.setAttribute("title", "Copied");
        setTimeout(() => b.classList.remove("done"), 1500);
      });
    });
  });

  // Regions that scroll inside themselves take the keyboard focus, so they can be
  // scrolled without a mouse (the pages mark the ones that always scroll).
  document.querySelectorAll("table.data, .table-wrap, .columns-list, pre").forEach((el) => {
    const scrolls = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
    if (scrolls && !el.hasAttribute("tabindex")) {
      el.setAttribute("tabindex", "0");
      if (!["TABLE", "ASIDE"].includes(el.tagName)) el.setAttribute("role", "region");
      if (!el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby")) {
        el.setAttribute("aria-label", "Scrollable: " + (el.querySelector("caption, h2, th")?.textContent || "content").trim().slice(0, 60));
      }
    }
  });

  // SQL grid: a click folds an unfolded cell again.
  document.querySelectorAll("td.cell").forEach((c) => {
    c.addEventListener("click", () => c.classList.toggle("open"));
  });

  // Time zone: UTC (what the server writes) or this browser's, remembered here.
  const tzKey = "auditwatch.timeZone";
  const choice = document.getElementById("tz-choice");
  const zone = () => { try { return localStorage.getItem(tzKey) || "utc"; } catch (_) { return "utc"; } };
  const pad = (n) => String(n).padStart(2, "0");
  const localText = (d) => d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  const localName = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const applyZone = () => {
    const local = zone() === "local";
    document.querySelectorAll("time[datetime]").forEach((t) => {
      if (!t.dataset.utc) t.dataset.utc = t.textContent;
      t.textContent = local ? localText(new Date(t.getAttribute("datetime"))) : t.dataset.utc;
    });
    document.querySelectorAll(".tz-name").forEach((n) => { n.textContent = local ? localName() : "UTC"; });
    document.querySelectorAll("svg.timeline text.tick[data-t]").forEach((t) => {
      if (!t.dataset.utc) t.dataset.utc = t.textContent;
      if (!local) { t.textContent = t.dataset.utc; return; }
      const d = new Date(Number(t.dataset.t) / 1000);
      const dayTick = /^[A-Z][a-z]{2} \d\d$/.test(t.dataset.utc);
      t.textContent = dayTick ? months[d.getMonth()] + " " + pad(d.getDate()) : pad(d.getHours()) + ":" + pad(d.getMinutes());
    });
  };
  // The search form's inputs hold UTC; shown and sent in the chosen zone.
  const toLocalInput = (v) => {
    const d = new Date(v + "Z");
    return isNaN(d) ? v : localText(d).replace(" ", "T");
  };
  const toUtcInput = (v) => {
    const d = new Date(v);
    return isNaN(d) ? v : d.toISOString().slice(0, 19) + "Z";
  };
  if (choice) {
    choice.closest("label").hidden = false;
    choice.value = zone();
    choice.addEventListener("change", () => {
      try { localStorage.setItem(tzKey, choice.value); } catch (_) { /* private mode */ }
      location.reload();
    });
  }
  applyZone();
  if (form && zone() === "local") {
    ["start", "end"].forEach((id) => {
      const i = document.getElementById(id);
      if (i && i.value) i.value = toLocalInput(i.value);
    });
    form.addEventListener("submit", (ev) => {
      if (ev.defaultPrevented) return;
      ["start", "end"].forEach((id) => {
        const i = document.getElementById(id);
        if (!i || !i.value) return;
        const hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = i.name;
        hidden.value = toUtcInput(i.value);
        i.removeAttribute("name");
        form.appendChild(hidden);
      });
    });
  }
});
