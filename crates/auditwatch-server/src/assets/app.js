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
    // Time sort: reverse the rows of this page.
    const sort = document.getElementById("sort-time");
    if (sort) {
      sort.addEventListener("click", () => {
        const body = table.tBodies[0];
        Array.from(body.rows).reverse().forEach((r) => body.appendChild(r));
        const newestFirst = sort.textContent.endsWith("↑");
        sort.textContent = sort.textContent.slice(0, -1) + (newestFirst ? "↓" : "↑");
      });
    }
  }
});
