"""The chapter tells the author's arc as a textbook: five steps, one concept each, stated in the same words on the
step's page, in the intro's table and in the recap; each step page within its word budget; the project's own tests
of the arc on a page of their own."""

import html
import re
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
STEPS = sorted((ROOT / "notebooks").glob("0[0-4]_*.ipynb"))
#: A step teaches one concept in at most this many words of prose outside dropdowns, code, outputs, figures and tables.
STEP_WORD_BUDGET = 1200
CONCEPT = re.compile(r"```\{admonition\} The concept\n:class: tip\n(?P<text>.+?)\n```", re.S)


def concept_of(notebook: Path) -> str:
    """The concept a step names in its first cell (the admonition titled "The concept"), on one line."""
    first = nbformat.read(notebook, as_version=4).cells[0]
    match = CONCEPT.search(first.source)
    assert first.cell_type == "markdown" and match, f"{notebook.name}: the first cell names no concept"
    return " ".join(match.group("text").split())


def concept_column(page: Path, column: str = "The concept") -> dict[str, str]:
    """Each row's concept in a Markdown table whose rows start with a {doc} link to a step notebook."""
    lines = [line for line in page.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines:
        link = re.search(r"\{doc\}`\d <\.\./notebooks/(0[0-4]_\w+)>`", line)
        if link:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[link.group(1)] = cells[header.index(column)]
    return rows


def test_every_step_names_one_concept_in_the_same_words_as_the_intro_and_the_recap():
    concepts = {path.stem: concept_of(path) for path in STEPS}
    assert len(concepts) == 5 and len(set(concepts.values())) == 5
    assert concept_column(ROOT / "book" / "intro.md") == concepts
    assert concept_column(ROOT / "book" / "recap.md") == concepts


def test_the_concept_check_catches_a_reworded_concept(tmp_path):
    page = tmp_path / "intro.md"
    page.write_text("| Step | The concept |\n|---|---|\n| {doc}`1 <../notebooks/01_right_eyes>` | Eyes matter. |\n")
    assert concept_column(page) == {"01_right_eyes": "Eyes matter."}
    assert concept_column(page) != {"01_right_eyes": concept_of(ROOT / "notebooks" / "01_right_eyes.ipynb")}


def test_the_investigations_follow_the_five_steps_in_a_part_of_their_own():
    parts = yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
    captions = [part["caption"] for part in parts]
    assert captions[:2] == ["The five steps", "Investigations"]
    steps = [chapter["file"] for chapter in parts[0]["chapters"]]
    assert steps == [f"notebooks/{path.stem}" for path in STEPS] + ["book/recap"]
    assert [chapter["file"] for chapter in parts[1]["chapters"]] == ["book/investigations"]


#: What a reader does not read as a step's prose: dropdowns (sources boxes, sphinx-exercise's hidden solutions), code
#: cells and their outputs, figures and tables.
NOT_PROSE = "details, div.cell, div.solution, figure, table"


def prose_of(page_html: str) -> list[str]:
    """The paragraphs and list items a reader reads on a page's article, outside :data:`NOT_PROSE`."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page_html, "html.parser")
    article = soup.find("article") or soup
    for hidden in article.select(NOT_PROSE):
        hidden.decompose()
    # a list item's paragraphs are read once, as the item
    return [" ".join(node.get_text(" ").split()) for node in article.find_all(["p", "li"]) if not node.find_parent("li")]


def cut_paragraphs(paragraphs: list[str]) -> list[str]:
    """Paragraphs that stop mid-sentence: longer than a caption and not ending in closing punctuation."""
    ends = [re.sub(r"[#\u00b6]\s*$", "", text).strip() for text in paragraphs]
    return [text for text in ends if len(text) > 60 and not re.search(r"[.?!:;)\]\"\u201d\u2019\u2026]$", text)]


def test_the_prose_measures_catch_a_long_page_and_a_cut_paragraph():
    page = ("<article><p>" + "word " * 1300 + "ends.</p><details><p>" + "hidden " * 500 + "</p></details>"
            '<div class="solution dropdown"><div><p>' + "solved " * 300 + "</p></div></div>"
            "<p>a paragraph that stops in the middle of what it was saying about imitation at the</p></article>")
    paragraphs = prose_of(page)
    assert sum(len(text.split()) for text in paragraphs) > STEP_WORD_BUDGET
    assert "hidden" not in " ".join(paragraphs) and "solved" not in " ".join(paragraphs)
    assert cut_paragraphs(paragraphs) == [paragraphs[-1]]
