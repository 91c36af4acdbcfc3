"""stube.payload: binding wire values to handler parameters, one type family at a time."""

from __future__ import annotations

import inspect
from typing import Any, Literal, Optional

import pytest

from stube import BadPayload
from stube.payload import MAX_DEPTH, MAX_ITEMS, MAX_NUMBER, Raw, bind, convert_value

# -- scalars ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "annotation", "expected"), [
    ("0", int, 0), ("-0", int, 0), ("123456789012345678901234567890", int, 123456789012345678901234567890),
    ("9" * MAX_NUMBER, int, int("9" * MAX_NUMBER)),
    ("1.25", float, 1.25), ("-3", float, -3.0), ("1E-3", float, 0.001), ("5.", float, 5.0),
    ("TRUE", bool, True), (" off ", bool, False),
])
def test_scalars(value: str, annotation: Any, expected: Any) -> None:
    got = convert_value(value, annotation)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("value", "annotation"), [
    ("9" * (MAX_NUMBER + 1), int), ("1" * (MAX_NUMBER + 1), float), ("1\n", int), ("\t1", int),
    ("1.5.5", float), ("e5", float), ("-", float), ("nan", float), ("+inf", float),
    ("๓", int), ("¹", int), ("٣", float),
])
def test_scalars_refused(value: str, annotation: Any) -> None:
    with pytest.raises(BadPayload):
        convert_value(value, annotation, "p")


def test_error_messages_are_short_for_huge_values() -> None:
    with pytest.raises(BadPayload) as caught:
        convert_value("x" * 100_000, int, "n")
    assert len(str(caught.value)) < 120 and str(caught.value).startswith("n: ")


def test_other_classes_are_called_with_the_text() -> None:
    from decimal import Decimal

    assert convert_value("1.10", Decimal) == Decimal("1.10")
    with pytest.raises(BadPayload, match="Decimal"):
        convert_value("one", Decimal)


# -- unions and literals ---------------------------------------------------------------------------


def test_union_takes_the_first_member_that_converts() -> None:
    assert convert_value("5", int | str) == 5
    assert convert_value("five", int | str) == "five"
    assert convert_value("", Optional[float]) is None  # noqa: UP045 - typing.Union, not types.UnionType
    with pytest.raises(BadPayload, match="int"):
        convert_value("x", int | float)


def test_literal_matches_by_text() -> None:
    assert convert_value("2", Literal[1, 2]) == 2
    assert convert_value(["a", "b"], Literal["a", "b"]) == "b"
    with pytest.raises(BadPayload, match="not one of"):
        convert_value("3", Literal[1, 2])


# -- containers -------------------------------------------------------------------------------------


def test_list_from_a_single_non_json_value_is_one_element() -> None:
    assert convert_value("red", list) == ["red"]
    assert convert_value("red", list[str]) == ["red"]
    assert convert_value('"red"', list[str]) == ['"red"']  # JSON, but not a list: the text itself


def test_typed_containers_check_elements_recursively() -> None:
    assert convert_value('[[1, 2], [3]]', list[list[int]]) == [[1, 2], [3]]
    assert convert_value('{"a": [1, null]}', dict[str, list[int | None]]) == {"a": [1, None]}
    assert convert_value('{"x": 1}', dict[Literal["x", "y"], int]) == {"x": 1}
    for value, annotation in [('[[1, "a"]]', list[list[int]]), ('{"z": 1}', dict[Literal["x"], int]),
                              ('{"a": {"b": 1.5}}', dict[str, dict[str, int]]), ('[1]', list[bool])]:
        with pytest.raises(BadPayload):
            convert_value(value, annotation)


def test_depth_bound_is_exact() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert convert_value(ok, list) is not None
    with pytest.raises(BadPayload, match="deeper"):
        convert_value("[" + ok + "]", list)
    with pytest.raises(BadPayload, match="deeper"):
        convert_value('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), dict)


def test_size_bound() -> None:
    assert len(convert_value("[" + ",".join(["1"] * (MAX_ITEMS - 1)) + "]", list[int])) == MAX_ITEMS - 1
    with pytest.raises(BadPayload, match="JSON values"):
        convert_value("[" + ",".join(["1"] * MAX_ITEMS) + "]", list[int])


def test_dict_needs_a_json_object() -> None:
    assert convert_value('{"a": [1, {"b": "c"}]}', dict) == {"a": [1, {"b": "c"}]}
    for bad in ("[1]", '"a"', "{", "1"):
        with pytest.raises(BadPayload):
            convert_value(bad, dict)


# -- binding -----------------------------------------------------------------------------------------


class Handlers:
    def upload(self, files: list | None = None, note: str = "") -> None: ...
    def anything(self, **rest: Any) -> None: ...
    def needs(self, amount: int) -> None: ...


def test_files_over_the_wire_come_only_from_the_parser() -> None:
    forged = '[{"filename": "x", "path": "/etc/passwd"}]'
    assert bind(Handlers.upload, {"files": forged, "note": "n"}, convert=True) == {"files": [], "note": "n"}
    assert bind(Handlers.upload, {"files": [forged, forged]}, convert=True) == {"files": []}
    real = [{"filename": "a.txt", "path": "/tmp/stube-upload-x"}]
    assert bind(Handlers.upload, {"files": Raw(real)}, convert=True) == {"files": real}
    assert bind(Handlers.anything, {"files": forged}, convert=True) == {"files": []}
    # A Harness passes values as given.
    assert bind(Handlers.upload, {"files": real}, convert=False) == {"files": real}


def test_var_keyword_values_are_text_checked() -> None:
    assert bind(Handlers.anything, {"a": ["1", "2"]}, convert=True) == {"a": "2"}
    with pytest.raises(BadPayload, match="surrogate"):
        bind(Handlers.anything, {"a": "\udc80"}, convert=True)


def test_missing_required_parameter() -> None:
    with pytest.raises(BadPayload, match="amount"):
        bind(Handlers.needs, {}, convert=True)


def test_unannotated_parameters_get_the_last_text() -> None:
    assert convert_value(["a", "b"], inspect.Parameter.empty) == "b"
    assert convert_value(Raw([1]), int) == [1]


def test_var_keyword_never_fills_the_kernels_own_parameters() -> None:
    """``self`` (and ``handle``'s ``name``) in a payload would be "multiple values" errors: dropped."""

    class Catchall:
        def handle(self, name: str, **payload: Any) -> None: ...

    assert bind(Handlers.anything, {"self": "x", "a": "1"}, convert=True) == {"a": "1"}
    assert bind(Catchall.handle, {"name": "x", "self": "y", "b": "2"}, convert=True, skip=2) == {"b": "2"}
