"""patch() finds its target id with a regex that does not skip quoted attribute
values: ' id=' inside an earlier attribute's value is taken as the id."""
from typing import Any

from stube import Component, event, patch
from stube.testing import Harness


class Saver(Component):
    template_string = '<div {{ root() }}>x</div>'

    @event
    def save(self) -> Any:
        return patch('<div title="copied id=42" id="toast">Saved</div>')


def test_patch_targets_the_real_id() -> None:
    h = Harness(Saver())
    frags = h.dispatch("save")
    assert [f.target for f in frags if f.kind == "patch"] == ["toast"]
