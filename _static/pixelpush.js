// Pixel Push: on a phone a table of three or more columns reads as "header: value" lines (pixelpush.css).
// Each body cell gets its column's header text as data-label; a header row left empty (pandas' index-name row)
// contributes nothing, so the label is the last non-empty header text above the cell.
(function () {
  function labelTable(table) {
    const head = table.tHead ? [...table.tHead.rows] : [];
    if (head.length === 0) return;
    const columns = [];
    for (const row of head) {
      let col = 0;
      for (const cell of row.cells) {
        const text = cell.textContent.replace(/\s+/g, " ").trim();
        for (let k = 0; k < (cell.colSpan || 1); k++, col++) {
          if (text) columns[col] = columns[col] ? (columns[col] === text ? text : columns[col] + " " + text) : text;
        }
      }
    }
    if (columns.filter(Boolean).length < 3 && columns.length < 3) return;
    table.classList.add("pp-stack");
    for (const body of table.tBodies) {
      for (const row of body.rows) {
        let col = 0;
        for (const cell of row.cells) {
          if (columns[col]) cell.setAttribute("data-label", columns[col]);
          col += cell.colSpan || 1;
        }
      }
    }
  }
  function run() {
    document.querySelectorAll(".bd-article table").forEach(labelTable);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
})();
