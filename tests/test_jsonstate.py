"""stube.jsonstate: what may enter a conversation, a stash or a flow log."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest

from stube import StateError
from stube.jsonstate import copy_attributes, is_json, json_copy

LONE = json.loads('"\\ud800"')  # a lone surrogate, as JSON decoding produces one


@pytest.mark.parametrize("value", [
    LONE, "ok" + LONE, [LONE], {"a": LONE}, {LONE: 1}, {"a": {LONE: [1]}}, [[{"x": ["y", "\udfff"]}]],
    math.nan, [math.inf], {"a": -math.inf}, {1: "a"}, {None: "a"}, {math.nan: 1}, (1, 2), {"a": {1, 2}},
])
def test_not_json_is_a_state_error(value: Any) -> None:
    with pytest.raises(StateError):
        json_copy(value, "where")
    assert not is_json(value)


def test_the_error_names_where_and_stays_printable() -> None:
    with pytest.raises(StateError) as caught:
        json_copy({"items": [{"k": LONE}]}, "Editor.draft")
    message = str(caught.value)
    assert message.startswith("Editor.draft['items'][0]['k']") and "surrogate" in message
    message.encode("utf-8")
    with pytest.raises(StateError) as caught:
        json_copy({LONE: 1}, "Editor.draft")
    assert "surrogate" in str(caught.value)
    str(caught.value).encode("utf-8")  # the key is shown escaped


def test_attributes_are_checked_names_and_all() -> None:
    with pytest.raises(StateError, match=r"Editor\.draft"):
        copy_attributes({"draft": LONE}, "Editor")
    with pytest.raises(StateError, match="surrogate"):
        copy_attributes({LONE: 1}, "Editor")
    with pytest.raises(StateError, match="not str"):
        copy_attributes({1: 1}, "Editor")  # type: ignore[dict-item]


def test_valid_text_of_every_plane_passes_and_is_copied() -> None:
    value = {"caf\u00e9": ["\U0001f600", "\u4e2d\u6587", "plain"], "n": [1, 2.5, True, None]}
    copied = json_copy(value)
    assert copied == value and copied is not value and copied["n"] is not value["n"]


class Color(str, enum.Enum):  # noqa: UP042 - a (str, Enum) member's __str__ is its name
    BLUE = "blue"


def test_str_subclasses_become_their_characters_and_are_checked() -> None:
    assert json_copy({Color.BLUE: Color.BLUE}) == {"blue": "blue"}
    assert type(next(iter(json_copy({Color.BLUE: 1})))) is str

    class Text(str):
        pass

    with pytest.raises(StateError, match="surrogate"):
        json_copy([Text(LONE)])
    with pytest.raises(StateError, match="surrogate"):
        json_copy({Text(LONE): 1})
