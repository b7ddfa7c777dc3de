"""The README fits on two screens and the docs hold together: every relative link resolves,
every topic page starts with what a user does with it, and docs/benchmarks.md has a stamped
section for every benchmark (it is written by `testbed bench all --markdown`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testbed.benchmarks import names

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
WRITTEN_BY_HAND = [p for p in PAGES if p.name not in {"design.md", "benchmarks.md"}]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_the_readme_fits_on_two_screens():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


@pytest.mark.parametrize("path", [ROOT / "README.md", ROOT / "instruments" / "README.md", *PAGES],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    missing = [m[1] for m in LINK.finditer(path.read_text())
               if "://" not in m[1] and not (path.parent / m[1]).exists()]
    assert missing == []


@pytest.mark.parametrize("page", WRITTEN_BY_HAND, ids=lambda p: p.name)
def test_each_topic_page_starts_with_what_a_user_does_with_it(page):
    title, blank, first = page.read_text().splitlines()[:3]
    assert title.startswith("# ") and blank == ""
    assert first.startswith("What you do with this page:")


def test_the_benchmarks_page_has_a_stamped_section_per_benchmark():
    text = (DOCS / "benchmarks.md").read_text()
    sections = re.findall(r"^## (\S+)\n\nMeasured (\S+ \S+) UTC from commit `([^`]+)`.* on (.+?), "
                          r"(\d+) cores", text, flags=re.MULTILINE)
    assert sorted(s[0] for s in sections) == names()


def test_the_readme_quotes_benchmark_figures_only_with_a_link_to_their_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    quoted = [line for line in lines if re.search(r"\d(\.\d+)?x\b", line)]
    assert all("docs/benchmarks.md#" in line for line in quoted), quoted
