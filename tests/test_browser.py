"""Every page of the built book, opened in headless Chromium at a desktop and a phone width.

Each page must: not overflow the main column (or the document) sideways, show no raw Markdown pipe-table text,
load every image and video, show no error output or traceback, keep every table, code block and output inside its
box, keep provenance (file:line@commit) out of sentences, have no paragraph mostly in bold, where a phone
stacks a table into "header: value" lines, leave no header without its value, break no word in a table between two
letters, and show no figure text or rollout-GIF caption under 9 CSS px. `_build/screenshots/report.json` (git-ignored)
lists what each check found and the wall times. A full-page screenshot, `_build/screenshots/<page>_<width>.png`, is
taken of a page that fails, or of every page with ``PIXELPUSH_SCREENSHOTS=1`` (``make screenshots``): capturing a long
page costs about 6 s, most of this module's time.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (the `dev` extras). Without them the
module is skipped, except under CI (CI set), where that is a failure: `.ci/run` installs them.

The checks are small JavaScript functions run through `driver.execute_script`; the two control tests at the
bottom run them on synthetic pages, one broken in each way and one clean, so a check that stops seeing a
defect fails there.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
WIDTHS = (1280, 390)  # a laptop, and a phone (iPhone 12-15 CSS width)
HEIGHT = 900
MAX_SHOT_HEIGHT = 24000  # taller pages are cut there (and report.json says so)
SHOT_SLICE = 6000
EVERY_SCREENSHOT = os.environ.get("PIXELPUSH_SCREENSHOTS") == "1"  # else only failing pages are captured
MEDIA_TIMEOUT_S = 15
INSTALL_HINT = ("install them with `apt-get install -y chromium chromium-driver` (.ci/run does)"
                " and `pip install selenium`")


def toc_pages(toc: Path = ROOT / "_toc.yml") -> list[str]:
    """The pages of the book, in reading order, as paths without suffix (book/intro, notebooks/00_...)."""
    data = yaml.safe_load(toc.read_text())
    files = [data["root"]]

    def walk(node):
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                walk(node.get(key, []))

    walk({k: v for k, v in data.items() if k != "root"})
    return [re.sub(r"\.(md|ipynb|rst)$", "", f) for f in files]


PAGES = toc_pages()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing_tools() -> list[str]:
    missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (Python)")
    return missing


_MISSING = _missing_tools()
if _MISSING and not _in_ci():
    pytestmark = pytest.mark.skip(reason=f"headless browser test: {', '.join(_MISSING)} not found; {INSTALL_HINT}")


# --- the browser -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if _MISSING:  # only reached under CI: elsewhere the module is skipped
        pytest.fail(f"CI needs the headless browser, but {', '.join(_MISSING)} not found: {INSTALL_HINT}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--force-device-scale-factor=1", "--hide-scrollbars", "--lang=en-US",
                "--disable-background-networking", "--no-first-run"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={WIDTHS[0]},{HEIGHT}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(MEDIA_TIMEOUT_S + 15)
    yield driver
    driver.quit()


def open_page(driver, url: str, width: int) -> None:
    """Loads `url` with a viewport `width` CSS pixels wide (window size = viewport: headless, scrollbars hidden)."""
    driver.set_window_size(width, HEIGHT)
    inner = driver.execute_script("return window.innerWidth")
    if inner != width:  # a window manager or minimum size got in the way: set the viewport itself
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    driver.get(url)
    inner = driver.execute_script("return document.documentElement.clientWidth")
    assert inner == width, f"viewport is {inner}px wide, not {width}px"


def full_page_screenshot(driver, path: Path) -> dict:
    """A PNG of the whole page, as wide as the viewport (or the content, if wider), cut at MAX_SHOT_HEIGHT px.

    Captured in slices of SHOT_SLICE px (Chromium cannot capture a very tall page in one piece) and stitched.
    Returns the page's size and whether the screenshot was cut.
    """
    from PIL import Image

    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    viewport = driver.execute_script("return document.documentElement.clientWidth")
    width, height = max(viewport, math.ceil(size["width"])), math.ceil(size["height"])
    shot_height = min(height, MAX_SHOT_HEIGHT)
    image = Image.new("RGB", (width, shot_height), "white")
    for y in range(0, shot_height, SHOT_SLICE):
        clip = {"x": 0, "y": y, "width": width, "height": min(SHOT_SLICE, shot_height - y), "scale": 1}
        data = driver.execute_cdp_cmd("Page.captureScreenshot",
                                      {"format": "png", "captureBeyondViewport": True, "clip": clip})["data"]
        image.paste(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), (0, y))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=False)
    return {"path": str(path), "page_width": width, "page_height": height, "cut": height > shot_height}


# --- the checks: each returns a list of readable problems, empty when the page is fine ----------------------------

# Shared JavaScript: where the text column is, and how to name an element in a message.
_JS_HELPERS = r"""
const COLUMN = ['article.bd-article', '.bd-article', 'main', 'body'];
const column = () => COLUMN.map(s => document.querySelector(s)).find(Boolean);
const describe = (el) => {
  const r = el.getBoundingClientRect();
  const cls = [...el.classList].slice(0, 4).map(c => '.' + c).join('');
  return `<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${cls}> ${Math.round(r.width)}px wide`
    + ` (x ${Math.round(r.left)}..${Math.round(r.right)})`;
};
const snippet = (text) => text.replace(/\s+/g, ' ').trim().slice(0, 90);
"""

_OVERFLOW_JS = _JS_HELPERS + r"""
// Elements whose box (or text) runs past [left, right], outermost first. A container that scrolls or clips
// sideways (overflow-x auto/scroll/hidden/clip: table wrappers, code blocks, cell outputs) is a boundary:
// what is wider than it scrolls inside it and does not widen the page.
const text = (el) => { const t = snippet(el.textContent || ''); return t ? ` "${t.slice(0, 60)}"` : ''; };
const clips = (cs) => ['auto', 'scroll', 'hidden', 'clip'].includes(cs.overflowX);
function culprits(container, left, right) {
  const found = [];
  const walk = (el) => {
    for (const child of el.children) {
      const cs = getComputedStyle(child);
      if (cs.display === 'none' || cs.position === 'fixed') continue;
      const r = child.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > right + 1 || r.left < left - 1) { found.push(describe(child) + text(child)); continue; }
      if (clips(cs)) continue;
      const before = found.length;
      walk(child);
      if (found.length === before && r.left + child.scrollWidth > right + 1)
        found.push(describe(child) + `, its content ${child.scrollWidth}px wide` + text(child));
    }
  };
  walk(container);
  return found;
}
const list = (found) => found.length === 0 ? '(no single element found)'
  : found.slice(0, 10).join('; ') + (found.length > 10 ? `; and ${found.length - 10} more` : '');
const out = [];
const col = column();
let inColumn = [];
if (col.scrollWidth > col.clientWidth + 1) {
  const r = col.getBoundingClientRect();
  const left = r.left + col.clientLeft;
  inColumn = culprits(col, left, left + col.clientWidth);
  out.push(`main column ${describe(col)}: content ${col.scrollWidth}px wide in ${col.clientWidth}px;`
    + ` overflowing: ${list(inColumn)}`);
}
const doc = document.documentElement;
if (doc.scrollWidth > doc.clientWidth + 1) {
  const found = culprits(document.body, 0, doc.clientWidth);
  const same = found.length > 0 && found.join() === inColumn.join();
  out.push(`document: ${doc.scrollWidth}px wide in a ${doc.clientWidth}px viewport (scrolls sideways);`
    + ` overflowing: ${same ? 'the main column\'s elements above' : list(found)}`);
}
return out;
"""

_PIPE_TABLE_JS = _JS_HELPERS + r"""
// Markdown table text shown as text: a `|---|---|` separator, or a block that starts like `| a | b |`.
// Code the author typed (code cells, literal blocks in prose) and math source are not prose; cell outputs are.
const SKIP = 'script, style, noscript, template, textarea, .cell_input, .math, nav, .headerlink';
const SEPARATOR = /\|\s*:?-{3,}:?\s*\|/;
const ROW = /^\s*\|[^|\n]*\|[^|\n]*\|/m;
const blocks = new Set();
const walker = document.createTreeWalker(column(), NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  if (!node.nodeValue.includes('|')) continue;
  const el = node.parentElement;
  if (!el || el.closest(SKIP)) continue;
  if (el.closest('pre, code, .highlight, .literal-block') && !el.closest('.cell_output, .output')) continue;
  blocks.add(el.closest('p, li, dd, dt, td, th, h1, h2, h3, h4, h5, h6, pre, blockquote, div') || el);
}
const out = [];
for (const block of blocks) {
  const text = block.innerText || '';  // rendered text: empty when hidden
  const line = text.split('\n').find(l => SEPARATOR.test(l) || ROW.test(l));
  if (line !== undefined) out.push(`${describe(block)}: "${snippet(line)}"`);
}
return out;
"""

_MEDIA_JS = _JS_HELPERS + r"""
// Every <img> complete with naturalWidth > 0, every <video> with a frame (readyState >= 2) and no error.
// Lazy images are switched to eager and waited for, up to the timeout.
const [timeoutMs, done] = [arguments[0], arguments[arguments.length - 1]];
const images = [...document.images];
const videos = [...document.querySelectorAll('video')];
images.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
videos.forEach(v => { if (v.preload === 'none') { v.preload = 'auto'; v.load(); } });
const settled = () => images.every(i => i.complete)
  && videos.every(v => v.readyState >= 2 || v.error || v.networkState === HTMLMediaElement.NETWORK_NO_SOURCE);
const deadline = Date.now() + timeoutMs;
const src = (el) => {
  const s = el.currentSrc || el.getAttribute('src') || el.querySelector('source')?.getAttribute('src') || '';
  return s.startsWith('data:') ? s.slice(0, 30) + '...' : s.split('/').slice(-2).join('/');
};
(function poll() {
  if (!settled() && Date.now() < deadline) { setTimeout(poll, 100); return; }
  const out = [];
  for (const img of images) {
    if (!(img.complete && img.naturalWidth > 0))
      out.push(`img ${src(img)}: not loaded (complete=${img.complete}, naturalWidth=${img.naturalWidth})`
        + (/^https?:/.test(img.currentSrc) ? ' [remote: the book should not need the network]' : ''));
  }
  for (const v of videos) {
    if (!(v.readyState >= 2) || v.error)
      out.push(`video ${src(v)}: readyState=${v.readyState}, networkState=${v.networkState}`
        + (v.error ? `, error ${v.error.code} ${v.error.message || ''}` : ''));
  }
  done(out);
})();
"""

_ERRORS_JS = _JS_HELPERS + r"""
// myst-nb error and traceback outputs, stderr outputs that report an error, docutils' inline error markers,
// and any traceback or `SomethingError: ` line in a cell output or the prose.
const out = [];
const root = column();
const ERROR_LINE = /Traceback \(most recent call last\)|^\s*[A-Z]\w*(Error|Exception): /m;
for (const el of root.querySelectorAll(
    '.output.error, .output.traceback, .traceback, .system-message, .problematic, .output.stderr, .stderr')) {
  if (el.parentElement.closest('.output.error, .output.traceback, .traceback, .system-message, .output.stderr'))
    continue;
  const text = el.innerText || el.textContent || '';
  if (el.matches('.output.stderr, .stderr') && !/\b\w*Error\b|Traceback/.test(text)) continue;
  out.push(`${describe(el)}: "${snippet(text.split('\n').find(l => l.trim()) || '')}"`);
}
for (const el of root.querySelectorAll('.cell_output, .output')) {
  if (el.parentElement.closest('.cell_output, .output')) continue;
  if (el.matches('.output.error, .output.traceback, .output.stderr') || el.querySelector('.traceback, .stderr, .error'))
    continue;  // reported above
  const line = (el.innerText || '').split('\n').find(l => ERROR_LINE.test(l));
  if (line !== undefined) out.push(`${describe(el)}: "${snippet(line)}"`);
}
const prose = [...root.querySelectorAll('p, li, blockquote, pre')]
  .filter(el => !el.closest('.cell_input, .cell_output, .output'));
for (const el of prose) {
  if (/Traceback \(most recent call last\)/.test(el.innerText || ''))
    out.push(`${describe(el)}: traceback in the text`);
}
return out;
"""


_WIDE_BOX_JS = _JS_HELPERS + r"""
// A table, code block or cell output wider than its box: its content scrolls sideways inside a box that scrolls or
// clips, or it sticks out of the box it sits in. Collapsed boxes ("Where these numbers come from") are opened for
// the measurement and closed again, so what a reader unfolds is measured too.
const [tablesOnly] = arguments;
const root = column();
const closed = [...root.querySelectorAll('details:not([open])')];
closed.forEach(d => { d.open = true; });
const out = [];
const seen = new Set();
const clipsX = (el) => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const BOXES = tablesOnly ? 'table' : 'table, pre, div.highlight, .cell_output, div.output';
for (const el of root.querySelectorAll(BOXES)) {
  if (!visible(el)) continue;
  // the nearest box around it: a scrolling or clipping ancestor inside the column, else the column
  let box = el.parentElement;
  while (box && box !== root && !clipsX(box)) box = box.parentElement;
  box = box || root;
  const inner = el.getBoundingClientRect();
  const outer = box.getBoundingClientRect();
  const left = outer.left + box.clientLeft, right = left + box.clientWidth;
  let problem = null;
  if (clipsX(el) && el.scrollWidth > el.clientWidth + 1)
    problem = `content ${el.scrollWidth}px wide scrolls inside its ${el.clientWidth}px box`;
  else if (inner.right > right + 1 || inner.left < left - 1)
    problem = `${Math.round(inner.width)}px wide in a ${box.clientWidth}px box`;
  else if (box !== root && clipsX(box) && box.scrollWidth > box.clientWidth + 1 && !seen.has(box))
    problem = `its box scrolls: content ${box.scrollWidth}px wide in ${box.clientWidth}px`;
  if (problem && !seen.has(box)) {
    seen.add(box);
    out.push(`${describe(el)}: ${problem} "${snippet(el.textContent || '').slice(0, 60)}"`);
  }
}
closed.forEach(d => { d.open = false; });
return out;
"""

# file:line@commit (tasks/critic_encoder_status.md:192,215-217,226@e871ca2) and a run folder at a step
# (data/runs/state_s0 @ step 2000000): bookkeeping that belongs in a provenance box, not in a sentence.
_PROVENANCE_JS = _JS_HELPERS + r"""
const PATTERNS = [/[\w.\/-]+\.\w+:\d[\d,\-]*@[0-9a-f]{7,}/, /data\/runs\/\S+ @ step \d/];
// Provenance boxes: collapsible boxes, footnotes, tables of sources, and a container a page marks as provenance.
const BOXES = 'details, .footnote, aside.footnote, .footnote-list, .pixelpush-provenance, .cell_input, nav, td, th';
const out = [];
for (const el of column().querySelectorAll('p, li')) {
  if (el.closest(BOXES)) continue;
  const own = [...el.childNodes].filter(n => !(n.nodeType === 1 && n.matches('ul, ol, dl')));
  const text = own.map(n => n.textContent).join('');
  for (const pattern of PATTERNS) {
    const m = text.match(pattern);
    if (m) { out.push(`${describe(el)}: "${m[0].slice(0, 80)}" in "${snippet(text).slice(0, 70)}"`); break; }
  }
}
return out;
"""

# Bold marks the few numbers a reader must remember; a paragraph mostly in bold (glued sentences were) is a wall.
MOSTLY_BOLD = 0.5
_BOLD_JS = _JS_HELPERS + r"""
const [share, minChars] = arguments;
const out = [];
for (const el of column().querySelectorAll('p, li')) {
  if (el.closest('nav, .admonition-title, summary, figcaption, .caption, table, .cell_input, .cell_output, .output'))
    continue;
  if (el.matches('li') && el.querySelector('p')) continue;  // its paragraphs are checked themselves
  let total = 0, bold = 0;
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (parent.closest('ul, ol') !== el.closest('ul, ol')) continue;  // a nested list's text is its own
    const n = node.nodeValue.replace(/\s+/g, '').length;
    total += n;
    if (parseInt(getComputedStyle(parent).fontWeight, 10) >= 600) bold += n;
  }
  if (total >= minChars && bold > share * total)
    out.push(`${describe(el)}: ${Math.round(100 * bold / total)}% bold "${snippet(el.textContent).slice(0, 70)}"`);
}
return out;
"""


# On a phone a wide table reads as "header: value" lines (_static/pixelpush.js): a line with a header and no value
# (a group's name that the wide table shows once, left blank below it) reads as a missing number.
_EMPTY_LINE_JS = _JS_HELPERS + r"""
const out = [];
for (const cell of column().querySelectorAll('table.pp-stack td[data-label], table.pp-stack th[data-label]')) {
  if (!cell.textContent.trim() && !cell.dataset.repeat)
    out.push(`${describe(cell.closest('table'))}: "${cell.dataset.label}:" has no value in row `
      + `"${snippet(cell.parentElement.textContent).slice(0, 60)}"`);
}
return out;
"""


# A table cell narrower than its longest word breaks that word between two letters ("c o n fi g"): the cell's
# content width against the width of each word, measured with canvas measureText in the computed font of each piece
# of it (a word may run on through a <code>). A word runs between spaces and the break opportunities the page gives
# (<wbr>, <br>, a zero-width space, and where browsers break: after a hyphen before a letter, after an en dash). Collapsed boxes are opened
# for the measurement, as in _WIDE_BOX_JS, and measured two frames later: the page lays a box's tables out when it
# opens (pixelpush.js, on "toggle"), as it does for a reader.
_NARROW_CELL_JS = _JS_HELPERS + r"""
const done = arguments[arguments.length - 1];
const root = column();
const ctx = document.createElement('canvas').getContext('2d');
const fontOf = (el) => {
  const cs = getComputedStyle(el);
  return `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
};
function longestWord(cell) {
  let word = '', width = 0, longest = {word: '', width: 0};
  const end = () => { if (width > longest.width) longest = {word, width}; word = ''; width = 0; };
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.nodeType === Node.ELEMENT_NODE) { if (node.matches('wbr, br')) end(); continue; }
    ctx.font = fontOf(node.parentElement);
    for (const part of node.nodeValue.replace(/(?<=-)(?=\p{L})|(?<=\u2013)(?=\S)/gu, '\u200b').split(/(\s+|\u200b)/)) {
      if (/^(\s+|\u200b)$/.test(part)) end();
      else if (part) { word += part; width += ctx.measureText(part).width; }
    }
  }
  end();
  return longest;
}
function measure() {
  const out = [];
  for (const cell of root.querySelectorAll('td, th')) {
    if (cell.getClientRects().length === 0) continue;
    const cs = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const longest = longestWord(cell);
    if (longest.width > room + 0.5)
      out.push(`${describe(cell.closest('table'))}: a cell ${Math.round(room)}px wide breaks "${longest.word}"`
        + ` (${Math.round(longest.width)}px) in "${snippet(cell.textContent).slice(0, 50)}"`);
  }
  return out;
}
const closed = [...root.querySelectorAll('details:not([open])')];
closed.forEach(d => { d.open = true; });
requestAnimationFrame(() => requestAnimationFrame(() => {
  const out = measure();
  closed.forEach(d => { d.open = false; });
  done(out);
}));
"""

# Text a reader sees in an image, as the page shows it: the size in the image's own pixels, scaled by the width the
# image is shown at over its natural width. A figure PNG records its smallest text (SMALLEST_TEXT_KEY, written by
# pixelpush_lib.chapter.style.readable); a rollout GIF's <img> the height of its caption (data-caption-px,
# pixelpush_lib.chapter.watching). Both are held to MIN_TEXT_PX, the smallest CSS px a reader is asked to read.
MIN_TEXT_PX = 9
_SHOWN_IMAGES_JS = _JS_HELPERS + r"""
const [selector] = arguments;
return [...column().querySelectorAll(selector)]
  .filter(img => img.getClientRects().length > 0 && img.clientWidth > 0 && img.naturalWidth > 0)
  .map(img => ({name: describe(img), natural: img.naturalWidth, shown: img.clientWidth, caption: img.dataset.captionPx,
                // a PNG's bytes are read for its text; any other inline image stays in the page (GIFs run to MBs)
                src: /^data:(?!image\/png)/.test(img.currentSrc) ? '' : img.currentSrc}));
"""


def _chapter_style():
    """pixelpush_lib/chapter/style.py alone: importing it through its package would import the chapter's notebooks'
    helpers (torch, the simulator), seconds this module does not need."""
    spec = importlib.util.spec_from_file_location("chapter_style", ROOT / "pixelpush_lib" / "chapter" / "style.py")
    style = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(style)
    return style


SMALLEST_TEXT_KEY = _chapter_style().SMALLEST_TEXT_KEY


def _image_bytes(src: str) -> bytes | None:
    """The bytes of an image the page shows from a file or a base64 data URI; None for any other source."""
    from urllib.parse import unquote, urlparse
    from urllib.request import url2pathname

    if src.startswith("file:"):
        return Path(url2pathname(unquote(urlparse(src).path))).read_bytes()
    head, _, data = src.partition(",")
    return base64.b64decode(data) if src.startswith("data:") and head.endswith(";base64") else None


def _reads_as(px: float, image: dict) -> float:
    return px * image["shown"] / image["natural"]


def small_figure_text(driver) -> list[str]:
    """PNG figures whose smallest text reads under MIN_TEXT_PX as shown; a matplotlib PNG that does not record its
    smallest text was drawn without ``readable`` and cannot be checked, so it is a problem too."""
    from PIL import Image

    out = []
    for image in driver.execute_script(_SHOWN_IMAGES_JS, "img"):
        data = _image_bytes(image["src"])
        if data is None or not data.startswith(b"\x89PNG"):
            continue
        with Image.open(io.BytesIO(data)) as png:
            text = dict(png.text)
        smallest = text.get(SMALLEST_TEXT_KEY)
        if smallest is None:
            if text.get("Software", "").startswith("Matplotlib"):
                out.append(f"{image['name']}: a matplotlib figure that does not record its smallest text (draw it "
                           "through pixelpush_lib.chapter.style.readable)")
        elif smallest != "none" and _reads_as(float(smallest), image) < MIN_TEXT_PX:
            out.append(f"{image['name']}: its smallest text, {smallest} px in a {image['natural']} px wide image "
                       f"shown {image['shown']} px wide, reads {_reads_as(float(smallest), image):.1f} px")
    return out


def small_captions(driver) -> list[str]:
    """Rollout GIFs whose caption (data-caption-px) reads under MIN_TEXT_PX as shown."""
    return [f"{image['name']}: its caption, {image['caption']} px high in a {image['natural']} px wide GIF shown "
            f"{image['shown']} px wide, reads {_reads_as(float(image['caption']), image):.1f} px"
            for image in driver.execute_script(_SHOWN_IMAGES_JS, "img[data-caption-px]")
            if _reads_as(float(image["caption"]), image) < MIN_TEXT_PX]


def overflow_problems(driver) -> list[str]:
    return driver.execute_script(_OVERFLOW_JS)


def raw_pipe_tables(driver) -> list[str]:
    return driver.execute_script(_PIPE_TABLE_JS)


def broken_media(driver) -> list[str]:
    return driver.execute_async_script(_MEDIA_JS, MEDIA_TIMEOUT_S * 1000)


def error_outputs(driver) -> list[str]:
    return driver.execute_script(_ERRORS_JS)


def wide_boxes(driver) -> list[str]:
    """Tables, code blocks and outputs wider than their box; on a phone only tables (code may scroll there)."""
    phone = driver.execute_script("return document.documentElement.clientWidth") < WIDTHS[0]
    return driver.execute_script(_WIDE_BOX_JS, phone)


def provenance_in_prose(driver) -> list[str]:
    return driver.execute_script(_PROVENANCE_JS)


def bold_paragraphs(driver) -> list[str]:
    return driver.execute_script(_BOLD_JS, MOSTLY_BOLD, 40)


def empty_stacked_lines(driver) -> list[str]:
    return driver.execute_script(_EMPTY_LINE_JS)


def narrow_cells(driver) -> list[str]:
    return driver.execute_async_script(_NARROW_CELL_JS)


CHECKS = {"overflow": overflow_problems, "raw pipe table": raw_pipe_tables, "image/video not loaded": broken_media,
          "error output": error_outputs, "wider than its box": wide_boxes, "provenance in prose": provenance_in_prose,
          "mostly bold": bold_paragraphs, "header without value": empty_stacked_lines,
          "word broken in a table": narrow_cells, "figure text too small": small_figure_text,
          "GIF caption too small": small_captions}


def page_problems(driver) -> dict[str, list[str]]:
    return {name: check(driver) for name, check in CHECKS.items()}


def _format(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"  [{name}] {p}" for name, found in problems.items() for p in found)


# --- the book's pages ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(built_book):
    """Collects what each page showed; writes `_build/screenshots/report.json` at the end."""
    for old in [*SCREENSHOTS.glob("*.png"), SCREENSHOTS / "report.json"]:
        old.unlink(missing_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = {"book_build_s": round(built_book.seconds, 1), "book_build_returncode": built_book.returncode,
            "pages": {}}
    yield data
    data["browser_wall_s"] = round(time.perf_counter() - start, 1)
    (SCREENSHOTS / "report.json").write_text(json.dumps(data, indent=1) + "\n")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_cleanly(browser, built_book, report, page, width):
    html = built_book.html / f"{page}.html"
    assert html.exists(), f"{page}.html was not built (see test_book_builds_clean_with_warnings_as_errors)"
    start = time.perf_counter()
    open_page(browser, html.as_uri(), width)
    problems = page_problems(browser)
    failed = any(problems.values())
    shot = (full_page_screenshot(browser, SCREENSHOTS / f"{page.replace('/', '_')}_{width}.png")
            if failed or EVERY_SCREENSHOT else None)
    report["pages"][f"{page}@{width}"] = {"problems": problems, "screenshot": shot,
                                          "seconds": round(time.perf_counter() - start, 2)}
    assert not failed, f"{page}.html at {width}px (screenshot: {shot['path']}):\n{_format(problems)}"


def test_pages_come_from_the_toc():
    assert PAGES[0] == "book/intro"
    assert len(PAGES) == len(set(PAGES)) >= 11
    assert all((ROOT / p).with_suffix(".md").exists() or (ROOT / p).with_suffix(".ipynb").exists() for p in PAGES)


# --- the checks can fail: a broken page and a clean one -------------------------------------------------------------

# A 1x1 PNG.
_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body {{ margin: 0; }} main {{ max-width: 700px; margin: 0 auto; }}
.scroll {{ overflow-x: auto; }} pre {{ overflow-x: auto; }}</style></head>
<body><main><article class="bd-article">
<h1>A page</h1><p>Some prose with <strong>one number</strong> to remember, and a few more words around it.</p>
<div class="pst-scrollable-table-container scroll">
<table style="width: 100%"><tr><td>a table that fits</td><td>{breakable_name}</td></tr></table></div>
<div class="highlight"><pre style="white-space: pre-wrap; overflow-wrap: anywhere">{long_code}</pre></div>
<details class="pixelpush-sources"><summary>Where these numbers come from</summary>
<p>Success at 2M: tasks/critic_encoder_status.md:192,215-217,226@e871ca2; data/runs/state_s0 @ step 2000000</p>
<table style="width: 100%"><tr><th>config</th><th>source</th></tr>
<tr><td style="width: 1%">state-calibrated</td><td>{breakable_source}</td></tr>
<tr><td style="width: 1%">62% [100%\u2013100%]</td><td>a range of numbers with an en dash</td></tr></table>
</details>
<div class="highlight"><pre>| a markdown | table typed as code |
|---|---|</pre></div>
<div class="cell docutils container">
<div class="cell_input"><pre>raise ValueError("shown as code") # Traceback (most recent call last)</pre></div>
<div class="cell_output"><div class="output stderr"><pre>UserWarning: a warning, not an error</pre></div></div></div>
<table class="pp-stack"><tbody><tr><td data-label="encoder">NatureCNN</td><td data-label="layer">1</td></tr>
<tr><td data-label="encoder" data-repeat="NatureCNN"></td><td data-label="layer">2</td></tr></tbody></table>
<img alt="fine" src="pixel.png">
<img class="figure" alt="a figure at its own size" src="figure.png">
<img class="rollout" alt="a rollout at its own size" src="rollout.gif" data-caption-px="10">
{broken}
</article></main></body></html>
"""

_BROKEN = """
<div class="pst-scrollable-table-container scroll">
<table class="scrolls" style="width: 3000px"><tr><td>wide, so it scrolls: a column out of view</td></tr></table></div>
<div class="highlight"><pre class="cut">{long_code}</pre></div>
<p>It reached 89% (reported, tasks/critic_encoder_status.md:81@e871ca2) and 96% from our runs.</p>
<p><strong>A whole glued sentence in bold, as myst-nb sets glued text</strong>, then a few plain words.</p>
<div class="too-wide" style="width: 2000px; height: 10px; background: red"></div>
<p>Inline code that cannot wrap: <code class="docutils literal">{long_name}</code>.</p>
<p>| step | success |
|---|---|
| 2 | 0.9 |</p>
<table class="pp-stack"><tbody><tr><td data-label="encoder"></td><td data-label="layer">3</td></tr></tbody></table>
<img alt="broken" src="missing.png">
<video src="missing.mp4" preload="auto"></video>
<div class="cell_output"><div class="output traceback"><pre>Traceback (most recent call last):
  File "x.py", line 1
ZeroDivisionError: division by zero</pre></div></div>
<div class="cell_output"><div class="output stderr"><pre>RuntimeError: rendering failed</pre></div></div>
<details><summary>Sources</summary><table style="width: 100%"><tr>
<td class="squeezed" style="width: 1%; overflow-wrap: anywhere">configuration</td><td>{long_code}</td></tr></table></details>
<img class="shrunk" alt="a wide figure shrunk to the column" src="wide_figure.png" style="max-width: 100%">
<img class="unrecorded" alt="a matplotlib figure drawn without readable" src="bare_figure.png">
<img class="shrunk-rollout" alt="a wide rollout shrunk" src="wide_rollout.gif" data-caption-px="10" style="max-width: 100%">
"""


def _write_images(folder: Path) -> None:
    """The synthetic pages' figures and rollouts. At their own size (300 and 200 px wide) their text reads 30 and 10 px
    on both pages; shrunk from 2000 and 1000 px into the 700 px column (390 px on a phone), 20 and 10 px read 7 and
    3.9 px. bare_figure.png is a matplotlib PNG that does not record its smallest text."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    def png(name: str, width: int, smallest: str | None) -> None:
        info = PngInfo()
        info.add_text("Software", "Matplotlib version3.11.2, https://matplotlib.org/")
        if smallest is not None:
            info.add_text(SMALLEST_TEXT_KEY, smallest)
        Image.new("RGB", (width, 20), "white").save(folder / name, pnginfo=info)

    png("figure.png", 300, "30")
    png("wide_figure.png", 2000, "20")
    png("bare_figure.png", 300, None)
    for name, width in (("rollout.gif", 200), ("wide_rollout.gif", 1000)):
        Image.new("RGB", (width, 20), "black").save(folder / name)


def _synthetic_page(tmp_path: Path, broken: bool) -> str:
    (tmp_path / "pixel.png").write_bytes(_PIXEL)
    _write_images(tmp_path)
    page = tmp_path / ("broken.html" if broken else "clean.html")
    long_name = "pixelpush_lib." + "_".join(["an_unbreakable_dotted_name"] * 6)
    long_code = "x = " + "1 + " * 600 + "1"
    page.write_text(_PAGE.format(
        long_code=long_code, long_name=long_name,
        # with the break opportunities the book's pixelpush.js gives a long name in a table
        breakable_name=long_name.replace("_", "_<wbr>"),
        breakable_source="tasks/<wbr>critic_<wbr>encoder_<wbr>status.md:<wbr>192,<wbr>215-217,<wbr>226@<wbr>e871ca2",
        broken=_BROKEN.format(long_name=long_name, long_code=long_code) if broken else ""))
    return page.as_uri()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_checks_catch_a_broken_page(browser, tmp_path, width):
    open_page(browser, _synthetic_page(tmp_path, broken=True), width)
    problems = page_problems(browser)
    overflow = " ".join(problems["overflow"])
    assert "main column" in overflow and "document" in overflow, problems
    assert "too-wide" in overflow and "2000px" in overflow, problems
    assert "<code.docutils.literal>" in overflow and "an_unbreakable_dotted_name" in overflow, problems
    assert "pst-scrollable-table-container" not in overflow and "<pre" not in overflow, problems
    assert len(problems["raw pipe table"]) == 1 and "<p>" in problems["raw pipe table"][0], problems
    media = problems["image/video not loaded"]
    assert len(media) == 2 and "missing.png" in media[0] and "missing.mp4" in media[1], problems
    errors = problems["error output"]
    assert len(errors) == 2, problems
    assert "traceback" in errors[0] and "Traceback" in errors[0] and "RuntimeError" in errors[1], problems
    wide = " ".join(problems["wider than its box"])
    assert "<table.scrolls>" in wide, problems  # the table that scrolls, at both widths
    assert ("<pre.cut>" in wide) == (width == WIDTHS[0]), problems  # code that scrolls: a defect on the desktop
    assert "a table that fits" not in wide and "pre-wrap" not in wide, problems
    (prose,) = problems["provenance in prose"]  # the sentence, not the provenance box
    assert "critic_encoder_status.md:81@e871ca2" in prose and "89%" in prose, problems
    (bold,) = problems["mostly bold"]
    assert "A whole glued sentence" in bold, problems
    (empty,) = problems["header without value"]  # the blank cell, not the one that repeats its group
    assert '"encoder:" has no value' in empty and "3" in empty, problems
    (squeezed,) = problems["word broken in a table"]  # in a closed box, which the check opens
    assert 'breaks "configuration"' in squeezed, problems
    shrunk, unrecorded = problems["figure text too small"]
    assert "<img.shrunk>" in shrunk and "20 px in a 2000 px wide image" in shrunk, problems
    assert "<img.unrecorded>" in unrecorded and "does not record its smallest text" in unrecorded, problems
    (caption,) = problems["GIF caption too small"]
    assert "<img.shrunk-rollout>" in caption and "10 px high in a 1000 px wide GIF" in caption, problems
    for found in (shrunk, caption):  # shown in the column: 700 px, or 390 on a phone
        shown_px, read_px = map(float, re.search(r"shown (\d+) px wide, reads ([\d.]+) px", found).groups())
        assert shown_px <= 700 and read_px < MIN_TEXT_PX, problems
    full_page_screenshot(browser, tmp_path / f"broken_{width}.png")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_checks_pass_a_clean_page(browser, tmp_path, width):
    """A long name that wraps in a table at its break opportunities, code that wraps, pipes in typed code, a warning on
    stderr, provenance inside its box, one bold number, a stacked table whose blank group cell repeats its group, a
    hyphenated word that wraps at its hyphen, a range that wraps at its en dash, and a figure and a rollout shown at their own size: none of it is a
    defect."""
    open_page(browser, _synthetic_page(tmp_path, broken=False), width)
    problems = page_problems(browser)
    assert not any(problems.values()), _format(problems)
