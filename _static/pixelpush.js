// Pixel Push: tables that fit their column stay tables; on a phone a table that does not fit reads as one block per
// row of "header: value" lines (pixelpush.css, class pp-stack; a cell left blank under its group's first row repeats
// that row's value there), and a table still too wide (a path, a run id,
// file:line@commit) may break its words anywhere (pp-break).
(function () {
  const PHONE = 640;  // px: pixelpush.css stacks tables only below this width
  // Each body cell gets its column's header text as data-label; a header row left empty (pandas' index-name row)
  // contributes nothing, so the label is the non-empty header text above the cell.
  function labelTable(table) {
    const head = table.tHead ? [...table.tHead.rows] : [];
    if (head.length === 0) return false;
    const columns = [];
    for (const row of head) {
      let col = 0;
      for (const cell of row.cells) {
        const text = cell.textContent.replace(/\s+/g, " ").trim();
        for (let k = 0; k < (cell.colSpan || 1); k++, col++) {
          if (text) columns[col] = columns[col] && columns[col] !== text ? columns[col] + " " + text : text;
        }
      }
    }
    if (columns.filter(Boolean).length < 3) return false;
    for (const body of table.tBodies) {
      const above = [];  // per column, the last value shown: a grouping cell left blank repeats it when stacked
      for (const row of body.rows) {
        let col = 0;
        for (const cell of row.cells) {
          if (columns[col]) cell.setAttribute("data-label", columns[col]);
          const text = cell.textContent.trim();
          if (text) above[col] = text;
          else if (above[col]) cell.setAttribute("data-repeat", above[col]);
          col += cell.colSpan || 1;
        }
      }
    }
    return true;
  }
  const tooWide = (table) => table.parentElement && table.offsetWidth > table.parentElement.clientWidth + 1;
  function fitTable(table) {
    table.classList.remove("pp-stack", "pp-break");
    if (table.offsetWidth === 0 || !tooWide(table)) return;  // hidden (a closed box: fitted when opened) or fits
    if (table.dataset.ppLabels === "yes" && window.innerWidth < PHONE) table.classList.add("pp-stack");
    if (tooWide(table)) table.classList.add("pp-break");
  }
  const tables = () => document.querySelectorAll(".bd-article table");
  function run() {
    tables().forEach((table) => { table.dataset.ppLabels = labelTable(table) ? "yes" : "no"; });
    tables().forEach(fitTable);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
  window.addEventListener("resize", () => tables().forEach(fitTable));
  // a "Where these numbers come from" box fits its tables when it opens
  document.addEventListener("toggle", (event) => {
    if (event.target.open) event.target.querySelectorAll("table").forEach(fitTable);
  }, true);
})();
