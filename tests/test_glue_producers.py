"""Every number a page glues has a producer: a library function that tests call, not a hidden notebook cell.

The test collects every ``{glue:text}`key``` of the notebooks and book pages, computes the union of what the
producers define (on the committed data/), and asserts that each key is defined; and that no page computes a glued
value itself (a page's code only passes a producer's facts to ``glue_all``/``glue_text``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pixelpush_lib.core.paths import DATA_DIR

ROOT = DATA_DIR.parent
GLUE_KEY = re.compile(r"\{glue:text\}`([^`]+)`")
PAGES = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("book/*.md"))
SUFFIXES = ("", "__source", "__provenance", "__reported", "__reported_source")


def _text_of(page: Path) -> tuple[str, str]:
    """(prose, code) of a notebook or a MyST page."""
    if page.suffix == ".ipynb":
        cells = json.loads(page.read_text())["cells"]
        prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for c in cells:
            caption = c.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption", "")
            prose += "\n" + caption
        return prose, code
    text = page.read_text()
    code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S))
    return text, code


def used_keys() -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for page in PAGES:
        for key in GLUE_KEY.findall(_text_of(page)[0]):
            keys.setdefault(key, []).append(str(page.relative_to(ROOT)))
    return keys


@pytest.fixture(scope="module")
def produced(footprint_result, gradflow_table) -> dict[str, str]:
    """The union of every producer's facts; the two live measurements are conftest's session fixtures (the same
    producers the notebooks call, at test sizes: the keys do not depend on the sizes)."""
    from pixelpush_lib.experiments.drq_noise import drq_facts, load_results as load_drq
    from pixelpush_lib.experiments.footprint import footprint_facts
    from pixelpush_lib.experiments.gradflow import gradflow_facts
    from pixelpush_lib.experiments.patience import patience_facts
    from pixelpush_lib.experiments.probe import load_results as load_probe, probe_facts
    from pixelpush_lib.results.own_runs import state_agent_facts
    from pixelpush_lib.results.quoted_numbers import chapter_numbers

    numbers = chapter_numbers()
    facts = {f"{name}{suffix}": "" for name in numbers for suffix in SUFFIXES}
    facts.update(state_agent_facts())
    facts.update(patience_facts(numbers).glued)
    facts.update(drq_facts(load_drq()["trained"], numbers))
    facts.update(footprint_facts(footprint_result))
    facts.update(probe_facts(load_probe().errors))
    facts.update(gradflow_facts(gradflow_table))
    from pixelpush_lib.results.measured import gpu_throughput_facts, precision_facts

    facts.update(gpu_throughput_facts())
    facts.update(precision_facts())
    from pixelpush_lib.results.investigations.students import distill_facts, load_students

    facts.update(distill_facts(load_students()))
    from pixelpush_lib.results.investigations.eyes import eyes_facts

    facts.update(eyes_facts())
    facts["table_provenance"] = ""  # book/intro.md: provenance_summary(), tested in test_data_numbers
    from pixelpush_lib.chapter.figures.curves import loss_signature_source

    facts["step2_signature_source"] = loss_signature_source("step2", seed=0)  # Step 3's sources box
    from pixelpush_lib.results.investigations.loss_signature import loss_signature_facts, losses_without_climb_facts

    facts.update(loss_signature_facts("state"))
    facts.update(losses_without_climb_facts("eyes_first"))
    from pixelpush_lib.results.investigations.prediction import prediction_facts

    facts.update(prediction_facts("eyes_first"))
    facts.update(prediction_facts("eyes_first_nature"))  # the investigations name NatureCNN's eyes as the next test
    from pixelpush_lib.results.investigations.pixel_agent import dagger_facts, pixel_agent_facts
    from pixelpush_lib.results.investigations.settings_control import noisy_puck_facts, settings_control_facts

    facts.update(settings_control_facts())
    facts.update(noisy_puck_facts())
    facts.update(pixel_agent_facts())
    facts.update(dagger_facts())
    from pixelpush_lib.chapter.exercises import exercise_cost_facts

    facts.update(exercise_cost_facts())  # every step's exercises, and how their costs were measured (the intro)
    return facts


def test_the_pages_glue_something():
    keys = used_keys()
    assert len(keys) > 50 and "state_success_2m" in keys and "own_state_2m" in keys


def test_every_glued_key_has_a_producer(produced):
    missing = {key: pages for key, pages in used_keys().items() if key not in produced}
    assert not missing, f"glued on a page but produced by no library function: {missing}"


def test_every_produced_fact_is_text(produced):
    for key, value in produced.items():
        assert isinstance(value, str), f"{key} is {type(value).__name__}, not text"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_compute_no_glued_value_themselves(page):
    # glue_text(...) with an f-string or a .loc lookup is a computation hidden in a page: it belongs in a producer
    code = _text_of(page)[1]
    for call in re.findall(r"glue_text\((.*)\)", code):
        assert "f\"" not in call and "f'" not in call and ".loc[" not in call, f"{page.name}: glue_text({call})"


# --- provenance: one click away, never inside a sentence -------------------------------------------------------

#: A page's collapsible box of sources: a sphinx-design dropdown with this title (the browser test treats any
#: <details> as a provenance box, and fails on file:line@commit in the prose outside one).
SOURCES_BOX = re.compile(r"```\{dropdown\} Where these numbers come from[^\n]*\n(.*?)```", re.S)
SOURCE_SUFFIXES = {"": "__source", "__reported": "__reported_source"}


def provenance_problems(prose: str, numbers: set[str]) -> list[str]:
    """What is wrong with where a page's prose puts the provenance of its chapter numbers: a source glued into a
    sentence, or a number glued in a sentence whose source is in none of the page's "Where these numbers come from"
    boxes."""
    boxed = set(GLUE_KEY.findall("\n".join(SOURCES_BOX.findall(prose))))
    problems = []
    for key in dict.fromkeys(GLUE_KEY.findall(SOURCES_BOX.sub(" ", prose))):
        if key.endswith(("__source", "__reported_source")):
            problems.append(f"{key}: a source glued into a sentence; move it into the page's sources box")
            continue
        base, _, suffix = key.partition("__")
        source = f"{base}{SOURCE_SUFFIXES.get('__' + suffix if suffix else '', '')}"
        if base in numbers and source != base and source not in boxed:
            problems.append(f"{key}: glued in a sentence, but {source} is in no 'Where these numbers come from' box")
    return problems


@pytest.fixture(scope="module")
def number_names() -> set[str]:
    from pixelpush_lib.results.quoted_numbers import chapter_numbers

    return set(chapter_numbers())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_quoted_number_has_its_source_in_the_pages_box(page, number_names):
    assert provenance_problems(_text_of(page)[0], number_names) == []


def test_the_provenance_check_catches_a_source_in_a_sentence_and_a_missing_one():
    numbers = {"step2_success_2m", "state_success_2m"}
    box = "```{dropdown} Where these numbers come from\n- {glue:text}`step2_success_2m__source`\n```\n"
    fine = "Success was {glue:text}`step2_success_2m` ({glue:text}`step2_success_2m__provenance`).\n" + box
    assert provenance_problems(fine, numbers) == []
    in_sentence = "It read {glue:text}`step2_success_2m` ({glue:text}`step2_success_2m__source`).\n" + box
    assert provenance_problems(in_sentence, numbers) == [
        "step2_success_2m__source: a source glued into a sentence; move it into the page's sources box"]
    titled = fine.replace("come from\n", "come from: the prediction\n")  # a box may name what it covers
    assert provenance_problems(titled, numbers) == []
    missing = fine + "The state agent: {glue:text}`state_success_2m__reported`.\n"
    assert provenance_problems(missing, numbers) == [
        "state_success_2m__reported: glued in a sentence, but state_success_2m__reported_source is in no 'Where "
        "these numbers come from' box"]
