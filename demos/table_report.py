"""Table report: a reusable sortable table, configured by column descriptions.

``TableReport`` keeps the column list, the sort column and direction, and
the name of its row source; the page places it as an eager child.
"""

from __future__ import annotations

from typing import Any

from stube import Component, event

from .sources import rows as source_rows

MAINTAINERS = [
    {"name": "Ada", "team": "Kernel", "merged": 42, "reviews": 118, "quality": 0.97, "status": "Active"},
    {"name": "Grace", "team": "Runtime", "merged": 37, "reviews": 96, "quality": 0.94, "status": "Active"},
    {"name": "Edsger", "team": "Kernel", "merged": 12, "reviews": 140, "quality": 0.99, "status": "Reviewer"},
    {"name": "Barbara", "team": "Docs", "merged": 28, "reviews": 51, "quality": 0.91, "status": "Active"},
    {"name": "Donald", "team": "Tooling", "merged": 9, "reviews": 33, "quality": 0.98, "status": "Away"},
    {"name": "Frances", "team": "Infra", "merged": 21, "reviews": 64, "quality": 0.89, "status": "Active"},
    {"name": "Ken", "team": "Runtime", "merged": 30, "reviews": 22, "quality": 0.86, "status": "Active"},
    {"name": "Margaret", "team": "Infra", "merged": 17, "reviews": 75, "quality": 0.93, "status": "Away"},
]


def maintainers() -> list[dict[str, Any]]:
    return [dict(r) for r in MAINTAINERS]


class TableReport(Component):
    """``columns``: ``[{"key", "label", "format"?: "number" | "percent" | "pill"}]``; click a header to sort."""

    name = "demo.table-report.table"
    template = "demos/table_report_table.html"

    def __init__(self, title: str, source: str, columns: list[dict[str, str]],
                 sort: str | None = None, descending: bool = False) -> None:
        self.title = title
        self.source = source
        self.columns = [dict(c) for c in columns]
        self.sort = sort or self.columns[0]["key"]
        self.descending = descending

    @property
    def rows(self) -> list[dict[str, Any]]:
        key = self.sort
        return sorted(source_rows(self.source), key=lambda r: (r.get(key) is None, r.get(key)),
                      reverse=self.descending)

    @property
    def sort_label(self) -> str:
        return next((c["label"] for c in self.columns if c["key"] == self.sort), self.sort)

    def cell(self, column: dict[str, str], row: dict[str, Any]) -> str:
        value = row.get(column["key"])
        if column.get("format") == "percent" and isinstance(value, (int, float)):
            return f"{value * 100:.0f}%"
        return "" if value is None else str(value)

    @event
    def sort_by(self, key: str) -> None:
        """The active column flips direction; another column sorts ascending."""
        if key not in {c["key"] for c in self.columns}:
            return
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, False


class TableReportPage(Component):
    """The ``/table-report`` page."""

    name = "demo.table-report"
    template = "demos/table_report.html"

    def children(self) -> dict[str, Component]:
        return {"table": TableReport("Maintainer activity", "demos.table_report:maintainers", [
            {"key": "name", "label": "Name"},
            {"key": "team", "label": "Team"},
            {"key": "merged", "label": "Merged PRs", "format": "number"},
            {"key": "reviews", "label": "Reviews", "format": "number"},
            {"key": "quality", "label": "Quality", "format": "percent"},
            {"key": "status", "label": "Status", "format": "pill"},
        ])}
