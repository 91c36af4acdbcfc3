"""The checkbox bug end to end: one ticked box -> 400, two -> 200."""
import re

from starlette.testclient import TestClient

import stube
from stube import Component, event

HX = {"HX-Request": "true"}


class Tags(Component):
    name = "review/tags"
    template_string = """<form {{ root() }}>
<input type="checkbox" name="tags" value="red"><input type="checkbox" name="tags" value="blue">
<button {{ on("apply") }}>Apply</button><p>{{ self.tags }}</p></form>"""

    def __init__(self) -> None:
        self.tags = []

    @event
    def apply(self, tags: list[str] = []) -> None:
        self.tags = tags


def test_one_ticked_checkbox() -> None:
    app = stube.Stube(secret_key="k")
    app.mount("/", Tags)
    with TestClient(app) as c:
        page = c.get("/").text
        url = re.search(r'hx-post="([^"]+/apply)"', page).group(1)
        assert c.post(url, data={"tags": ["red", "blue"]}, headers=HX).status_code == 200
        r = c.post(url, data={"tags": "red"}, headers=HX)
        assert r.status_code == 200, (r.status_code, r.text)
