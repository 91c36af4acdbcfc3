"""Templates in debug (issue 14): auto-reload, missing templates that say where stube looked,
and relative folders resolved against a base folder."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest

from stube import Component
from stube import fragments as fr
from stube.kernel import Env, boot, render_page
from stube.render import TEMPLATES_DIR, MissingTemplate, Templates, resolve_folders


class Shown(Component):
    name = "dx/shown"
    template = "dx_shown.html"


class Lost(Component):
    name = "dx/lost"
    template = "todo.html"


def write(path: Path, text: str, bump: int) -> None:
    """Write ``text`` and move the file's mtime forward (a save in an editor, seconds later)."""
    path.write_text(text)
    stamp = path.stat().st_mtime + bump
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize("auto_reload", [True, False])
def test_auto_reload_picks_up_an_edited_template_only_when_on(tmp_path: Path, auto_reload: bool) -> None:
    page = tmp_path / "dx_shown.html"
    write(page, "<div {{ root() }}>first</div>", 0)
    env = Env(Templates([tmp_path], auto_reload=auto_reload))
    conv = boot(Shown, env).conversation
    assert "first" in render_page(conv, env)
    write(page, "<div {{ root() }}>second</div>", 10)
    assert ("second" if auto_reload else "first") in render_page(conv, env)


def test_templates_are_not_reloaded_by_default() -> None:
    assert Templates().env.auto_reload is False and Templates(auto_reload=True).env.auto_reload is True


def test_a_missing_template_lists_every_folder_searched(tmp_path: Path) -> None:
    templates = Templates([tmp_path, "templates"])
    with pytest.raises(MissingTemplate) as caught:
        templates.get("todo.html")
    assert str(caught.value) == (f"template 'todo.html' not found in: {tmp_path}, {Path.cwd() / 'templates'}, "
                                 f"{TEMPLATES_DIR}")
    assert isinstance(caught.value, jinja2.TemplateNotFound)       # existing ``except`` clauses still match
    (tmp_path / "page.html").write_text("{% include 'gone.html' %}")
    with pytest.raises(MissingTemplate, match=f"template 'gone.html' not found in: {tmp_path}, "):
        templates.render(templates.get("page.html"), {})


def test_the_banner_of_a_missing_template_says_where_stube_looked_in_debug(tmp_path: Path) -> None:
    out = boot(Lost, Env(Templates([tmp_path]), debug=True))
    (page,) = out.fragments
    assert page.kind == fr.PAGE
    assert f"template &#39;todo.html&#39; not found in: {tmp_path}, {TEMPLATES_DIR}" in page.html
    hidden = boot(Lost, Env(Templates([tmp_path]))).fragments[0]
    assert str(tmp_path) not in hidden.html                          # not in production: paths are private


def test_resolve_folders_takes_relative_folders_against_the_base(tmp_path: Path) -> None:
    base = tmp_path / "app"
    assert resolve_folders(["templates", Path("more/t"), tmp_path / "abs", "~/x"], base) == [
        base / "templates", base / "more" / "t", tmp_path / "abs", Path.home() / "x"]
    assert resolve_folders([], base) == []
