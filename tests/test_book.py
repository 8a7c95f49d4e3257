"""The book builds with warnings as errors, and its prose carries no hand-typed result numbers."""

import html
import re
from pathlib import Path

import nbformat
import pytest
from test_arc import STEP_WORD_BUDGET, STEPS, cut_paragraphs, prose_of

ROOT = Path(__file__).resolve().parents[1]

# Numbers that are not results: sizes, names, step labels, list markers. Everything else in prose must
# come through a glue role (or sit in code).
ALLOWED = [
    r"\b\d+x\d+\b",  # image, map and kernel sizes: 84x84, 3x3
    r"\bSteps? [0-4](?:(?:, | and | to )[0-4])*\b",  # "Step 2", "Steps 1, 2 and 4"
    r"\bPhase [1-3]\b",
    r"-v\d\b",  # FetchPush-v4, DrQ-v2
    r"\bstride[- ]\d\b",  # "stride 4", "stride-2 layers"
    r"\bSB3\b|Stable-Baselines3",
    r"\[-1, 1\]",  # SpatialSoftmax's coordinate range
    r"^\s*\d+\.\s",  # numbered-list markers
    r"\b\d+-D\b",  # dimensions: 3-D
    r"\b(?:b?float|bf|BF|fp|u?int)(?:8|16|32)\b|\bAVX-512\b",  # number formats and instruction sets: float32, bf16
]
STRIP = [
    r"```.*?```",  # fenced code and directives
    r"\{[a-z:]+\}`[^`]*`",  # roles: glue, cite, doc, ...
    r"`[^`]*`",  # inline code
    r"\]\([^)]*\)",  # link targets
    r"<!--.*?-->",
    r"(?m)^\([\w-]+\)=[ \t]*$",  # MyST targets: "(step3-prediction)=" names a section, it is not prose
]


def _prose_of_notebook(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def _prose_of_page(path: Path) -> str:
    text = path.read_text()
    return re.sub(r"^---\n.*?\n---\n", "", text, flags=re.S)  # front matter


def _hand_typed_numbers(text: str) -> list[str]:
    for pattern in STRIP:
        text = re.sub(pattern, " ", text, flags=re.S)
    found = []
    for line in text.splitlines():
        for pattern in ALLOWED:
            line = re.sub(pattern, " ", line)
        found += [m.group(0) for m in re.finditer(r"\S*\d\S*", line)]
    return found


PAGES = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    p for p in (ROOT / "book").glob("*.md")
)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_prose_has_no_hand_typed_result_numbers(path):
    text = _prose_of_notebook(path) if path.suffix == ".ipynb" else _prose_of_page(path)
    assert _hand_typed_numbers(text) == [], f"{path.name}: glue these numbers from data/ instead"


def test_the_checker_catches_typed_numbers():
    assert _hand_typed_numbers("success reached 96% at 4M steps") == ["96%", "4M"]
    assert _hand_typed_numbers("a 0.07 critic loss") == ["0.07"]
    assert _hand_typed_numbers("Step 2 on 84x84 frames, {glue:text}`step2_success_4m` `--seed 0`") == []
    assert _hand_typed_numbers("bfloat16 against float32 on uint8 pixels, AVX-512 BF16") == []
    assert _hand_typed_numbers("bf16 ran 2.7 times as fast") == ["2.7"]
    assert _hand_typed_numbers("(step3-prediction)=\n## A prediction\nSee (step3) for 3 seeds") == ["(step3)", "3"]


def test_book_builds_clean_with_warnings_as_errors(built_book):
    """Executes every notebook (load mode) from a clean cache: the build CI relies on (conftest's `built_book`,
    shared with tests/test_browser.py)."""
    assert built_book.returncode == 0, built_book.log[-6000:]
    html = built_book.html
    for page in ["book/intro", "notebooks/00_baseline_gap", "notebooks/02_gradient_flow", "notebooks/04_drq_surprise",
                 "book/reproduce", "book/data_notes", "book/references"]:
        assert (html / f"{page}.html").exists(), page
    from pixelpush_lib.results.quoted_numbers import chapter_numbers

    numbers = chapter_numbers()
    step2 = (html / "notebooks" / "02_gradient_flow.html").read_text()
    assert "Traceback" not in step2
    assert numbers["step2_success_4m"].prose() in step2, "glued numbers reach the rendered prose"
    intro = (html / "book" / "intro.html").read_text()
    assert numbers["step0_band"].prose() in intro


#: Three or more words said twice in a row: what a glued phrase leaves when the sentence around it says it again
#: ("and their velocity is {glue} always answering zero" with a glue that already begins "their velocity is").
REPEATED_PHRASE = re.compile(r"\b((?:[A-Za-z]+\s+){2,}[A-Za-z]+)\s+\1\b", re.I)


def repeated_phrases(page_html: str) -> list[str]:
    """Each phrase of three or more words that the rendered article says twice in a row, with its context."""
    article = re.search(r"<article\b.*?</article>", page_html, re.S)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", article.group(0) if article else "", flags=re.S)
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))
    return [text[max(0, m.start() - 30):m.end() + 10] for m in REPEATED_PHRASE.finditer(text)]


def test_the_rendered_prose_never_says_a_phrase_twice_in_a_row(built_book):
    assert built_book.returncode == 0, built_book.log[-6000:]
    found = {str(page.relative_to(built_book.html)): repeated_phrases(page.read_text())
             for page in sorted(built_book.html.glob("*/*.html"))}
    assert {page: hits for page, hits in found.items() if hits} == {}


def test_the_repetition_check_catches_a_doubled_glued_phrase():
    page = ("<html><title>Step 3 Step 3 Step 3</title><article><p>and their velocity is <span>their velocity is no "
            "better</span> than zero</p><p>It rose, rose again.</p></article></html>")
    (hit,) = repeated_phrases(page)
    assert "their velocity is their velocity is" in hit  # "rose, rose" is two words, and the title is not prose


def test_each_step_page_is_within_budget_and_no_paragraph_is_cut(built_book):
    assert built_book.returncode == 0, built_book.log[-3000:]
    words, cut = {}, {}
    for path in STEPS:
        paragraphs = prose_of((built_book.html / "notebooks" / f"{path.stem}.html").read_text())
        words[path.stem] = sum(len(text.split()) for text in paragraphs)
        cut[path.stem] = cut_paragraphs(paragraphs)
    print("words of prose per step page:", words)
    assert {page: n for page, n in words.items() if n > STEP_WORD_BUDGET} == {}
    pages = [*STEPS, *(ROOT / "book").glob("*.md")]
    for page in pages:
        built = built_book.html / page.relative_to(ROOT).with_suffix(".html")
        if built.exists():
            cut[page.stem] = cut_paragraphs(prose_of(built.read_text()))
    assert {page: texts for page, texts in cut.items() if texts} == {}


def test_every_figure_on_the_steps_and_investigations_is_numbered(built_book):
    assert built_book.returncode == 0, built_book.log[-3000:]
    unnumbered = {}
    for page in [*(f"notebooks/{path.stem}" for path in STEPS), "book/investigations"]:
        figures = re.findall(r"<figure\b.*?</figure>", (built_book.html / f"{page}.html").read_text(), flags=re.S)
        # rollout videos (chapter.watching) are figures of HTML, captioned inside, not numbered figures
        missing = [figure[:120] for figure in figures
                   if "caption-number" not in figure and "pixelpush-rollout" not in figure[:200]]
        if missing:
            unnumbered[page] = missing
    assert unnumbered == {}
