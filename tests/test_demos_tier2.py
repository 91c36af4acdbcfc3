"""Tier 2 demos: reusable components configured by data, and keyed lists."""

from __future__ import annotations

from demos.columns import Column, Columns, label
from demos.paginated_list import PaginatedList, PaginatedPage
from demos.table_report import TableReport, TableReportPage
from demos.testing import DemoHarness
from demos.tree import Tree, branches
from stube import fragments as fr

# -- tree --------------------------------------------------------------------------------


def test_tree_expand_all_reveals_children() -> None:
    h = DemoHarness(Tree)
    page = h.page
    assert page.one("h2").text == "Tree"
    assert "4 open branches" in h.text
    before = len(page.select("li"))
    h.click("Expand all")
    after = len(h.page.select("li"))
    assert after > before
    assert f"{len(branches())} open branches" in h.text
    h.click("Collapse all")
    assert len(h.page.select("li")) == 1
    assert "0 open branches" in h.text


def test_tree_toggle_one_branch() -> None:
    h = DemoHarness(Tree)
    tests = next(li for li in h.page.select("li") if li.select("span.demo-tree__label")[0].text == "tests/")
    toggle = tests.select("button")[0]
    assert toggle.text == "▸" and toggle.get("aria-expanded") == "false"
    h.press(toggle)
    tests = next(li for li in h.page.select("li") if li.select("span.demo-tree__label")[0].text == "tests/")
    assert tests.select("button")[0].text == "▾"
    assert "test_kernel.py" in tests.text
    h.dispatch("toggle", node="readme")  # a leaf is not a branch: nothing opens
    assert "readme" not in h.top.open


# -- table report --------------------------------------------------------------------------


def first_cells(h: DemoHarness) -> list[str]:
    return [row.select("td")[0].text for row in h.page.select("table tbody tr")]


def test_table_report_header_click_toggles_name_column_sort() -> None:
    h = DemoHarness(TableReportPage)
    assert h.page.one("h2").text == "Table report"
    assert first_cells(h)[0] == "Ada"
    assert "Sorted by Name ascending." in h.text
    assert h.page.one("th[aria-sort]").get("aria-sort") == "ascending"
    h.press(next(b for b in h.page.select("th button") if "Name" in b.text))
    assert first_cells(h)[0] == "Margaret"
    assert "Sorted by Name descending." in h.text
    assert h.page.one("th[aria-sort]").get("aria-sort") == "descending"


def test_table_report_another_column_sorts_ascending_and_formats() -> None:
    h = DemoHarness(TableReportPage)
    h.press(next(b for b in h.page.select("th button") if "Name" in b.text))   # descending
    h.press(next(b for b in h.page.select("th button") if "Quality" in b.text))
    assert "Sorted by Quality ascending." in h.text
    rows = h.page.select("table tbody tr")
    assert rows[0].select("td")[4].text == "86%"
    assert rows[-1].select("td")[4].text == "99%"
    assert rows[0].one("span.stube-pill").text in ("Active", "Away", "Reviewer")
    h.dispatch("sort_by", target=h.find(TableReport).iid, key="nope")
    assert "Sorted by Quality ascending." in h.text


# -- paginated list ---------------------------------------------------------------------------


def test_paginated_list_next_and_previous_change_pages() -> None:
    h = DemoHarness(PaginatedPage)
    page = h.page
    assert page.one("h2").text == "Paginated list"
    assert "1–7 of 37" in page.text
    assert "disabled" in page.button("Previous").attrs
    assert "disabled" not in page.button("Next").attrs
    assert page.one("button[aria-current=page]").text == "1"
    assert [b.text for b in page.select("nav button")][1:-1] == ["1", "2", "3", "4", "5", "6"]
    h.click("Next")
    assert "disabled" not in h.page.button("Previous").attrs
    assert "8–14 of 37" in h.text
    assert h.page.select("table tbody tr")[0].select("td")[0].text == "8"
    h.click("Previous")
    assert "disabled" in h.page.button("Previous").attrs


def test_paginated_list_last_page_and_page_buttons() -> None:
    h = DemoHarness(PaginatedPage)
    h.click("6")
    page = h.page
    assert "36–37 of 37" in page.text
    assert len(page.select("table tbody tr")) == 2
    assert "disabled" in page.button("Next").attrs
    h.dispatch("go", target=h.find(PaginatedList).iid, page=99)  # out of range: nothing happens
    assert "36–37 of 37" in h.text


def test_paginated_list_keeps_only_the_source_name_in_state() -> None:
    h = DemoHarness(PaginatedPage)
    state = h.find(PaginatedList).__dict__
    assert state["source"] == "demos.paginated_list:contributors"
    assert "rows" not in state and h.roundtrip() == h.conversation


# -- columns -------------------------------------------------------------------------------------


def cards(h: DemoHarness) -> list[str]:
    return [c.one("h2").text for c in h.page.select("article.stube-card")]


def test_columns_add_and_remove_send_insert_and_remove_fragments() -> None:
    h = DemoHarness(Columns)
    assert h.page.one("h1").text == "Columns"
    assert cards(h) == ["Column A", "Column B", "Column C"]
    ids = [c.get("id") for c in h.page.select("article.stube-card")]

    frags = h.click("Add column")
    assert [f.kind for f in frags] == [fr.INSERT]          # not a re-render of the row
    assert frags[0].mode == "append" and "Column D" in frags[0].html
    assert cards(h) == ["Column A", "Column B", "Column C", "Column D"]
    assert [c.get("id") for c in h.page.select("article.stube-card")][:3] == ids

    frags = h.click("Remove last")
    assert [f.kind for f in frags] == [fr.REMOVE]
    assert cards(h) == ["Column A", "Column B", "Column C"]


def test_columns_close_one_and_notes_survive() -> None:
    h = DemoHarness(Columns)
    b = h.find_all(Column)[1]
    h.press(h.page.one(f"#{b.iid} textarea"), fields={"body": "notes on B"})
    a = h.page.select("article.stube-card")[0]
    frags = h.click("×", within=a)
    assert [(f.kind, f.target) for f in frags] == [(fr.REMOVE, a.get("id"))]
    assert cards(h) == ["Column B", "Column C"]
    assert h.page.one(f"#{b.iid} textarea").text == "notes on B"
    h.click("Add column")
    assert cards(h)[-1] == "Column D"  # labels are never reused


def test_column_labels() -> None:
    assert [label(i) for i in (0, 1, 25, 26, 27, 701, 702)] == ["A", "B", "Z", "AA", "AB", "ZZ", "AAA"]
