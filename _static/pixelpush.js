// Pixel Push: tables that fit their column stay tables, no word in a table is broken between two letters, and a
// rollout video's captions stay readable on a phone.
// - A long name in a cell (a path, file:line@commit, a run id, a snake_case key) gets a line-break opportunity
//   (<wbr>) after each "/", "_", ",", ";", "@" and ":", so its column can be as narrow as one part of the name.
//   Without one the browser either widens the table past the column or breaks the name between any two letters.
// - On a phone a table that does not fit reads as one block per row of "header: value" lines (pixelpush.css, class
//   pp-stack; a cell left blank under its group's first row repeats that row's value there), and a table still too
//   wide may break its words anywhere (pp-break). On a wider page a table still too wide scrolls sideways
//   (pp-scroll) rather than squeezing a column to a letter's width.
(function () {
  const PHONE = 640;  // px: pixelpush.css stacks tables only below this width
  const LONG = 12;  // characters: a shorter run without spaces never needs a break inside it
  const AFTER_SEPARATOR = /(?<=[\/_,;@:])(?=\S)/;
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
  function breakLongNames(table) {
    const walker = document.createTreeWalker(table, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    for (const node of nodes) {
      const runs = node.nodeValue.split(/(\s+)/);
      if (!runs.some((run) => run.length >= LONG)) continue;
      const pieces = document.createDocumentFragment();
      for (const run of runs) {
        const parts = run.length >= LONG ? run.split(AFTER_SEPARATOR) : [run];
        parts.forEach((part, i) => {
          if (i > 0) pieces.appendChild(document.createElement("wbr"));
          pieces.appendChild(document.createTextNode(part));
        });
      }
      node.replaceWith(pieces);
    }
  }
  const tooWide = (table) => table.parentElement && table.offsetWidth > table.parentElement.clientWidth + 1;
  function fitTable(table) {
    table.classList.remove("pp-stack", "pp-break", "pp-scroll");
    if (table.offsetWidth === 0 || !tooWide(table)) return;  // hidden (a closed box: fitted when opened) or fits
    const phone = window.innerWidth < PHONE;
    if (table.dataset.ppLabels === "yes" && phone) table.classList.add("pp-stack");
    if (tooWide(table)) table.classList.add(phone ? "pp-break" : "pp-scroll");
  }
  const tables = () => document.querySelectorAll(".bd-article table");

  // Rollout videos (pixelpush_lib/chapter/watching.py): one GIF of the reader's view and the policy's view side by
  // side, a caption drawn above each (data-caption-px: its height in the GIF's pixels). Where the figure is too
  // narrow for that caption to read at MIN_CAPTION_PX, the two views are shown one above the other, each as wide as
  // the figure: two copies of the image, each clipped to one half (one image, so they play in step).
  const MIN_CAPTION_PX = 9;  // tests/test_browser.py holds every caption the page shows to it
  function addViews(whole) {
    const views = document.createElement("div");
    views.className = "pp-rollout-views";
    for (const [side, what] of [["left", "the reader's view"], ["right", "what a pixel policy sees"]]) {
      const view = document.createElement("div");
      view.className = `pp-rollout-view pp-${side}`;
      const copy = whole.cloneNode();
      ["style", "width", "height"].forEach((name) => copy.removeAttribute(name));  // pixelpush.css sizes it
      copy.alt = `${whole.alt}: ${what}`;
      view.appendChild(copy);
      views.appendChild(view);
    }
    whole.after(views);
  }
  function fitRollout(figure) {
    const whole = figure.querySelector(":scope > img[data-caption-px]");
    if (!whole) return;
    if (!figure.querySelector(".pp-rollout-views")) addViews(whole);
    const natural = Number(whole.getAttribute("width"));
    const shown = Math.min(natural, figure.clientWidth);
    figure.classList.toggle("pp-views-stacked", Number(whole.dataset.captionPx) * shown / natural < MIN_CAPTION_PX);
  }
  const rollouts = () => document.querySelectorAll("figure.pixelpush-rollout");

  function run() {
    tables().forEach((table) => {
      table.dataset.ppLabels = labelTable(table) ? "yes" : "no";
      breakLongNames(table);
    });
    tables().forEach(fitTable);
    rollouts().forEach(fitRollout);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
  window.addEventListener("resize", () => {
    tables().forEach(fitTable);
    rollouts().forEach(fitRollout);
  });
  // a "Where these numbers come from" box fits its tables when it opens
  document.addEventListener("toggle", (event) => {
    if (event.target.open) event.target.querySelectorAll("table").forEach(fitTable);
  }, true);
})();
