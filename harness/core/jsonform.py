"""The JSON form of results, in one place: a cattrs converter that writes each typed value the
way the stored and committed files have it, and reads it back checking every field.

A dataclass declares its JSON: keys in the order of its fields, a field whose metadata is
``OMIT_NONE`` left out while it is None (files written before it existed lack it), a
``json_key`` where the key is no Python name, enums and ``Builders`` as their text. So a new
field of a result is one edit, its declaration. A bad value is one line naming its path
(``$.engine.version``), so a corrupt stored cell is reported and built again. Shapes that are
not their fields (a step's two images) register hooks of their own beside their class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from enum import Enum, StrEnum
from typing import Any, TypeVar

from cattrs import Converter
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception, transform_error

from harness.core.buildkind import Builders
from harness.core.errors import UserError

T = TypeVar("T")

# Field metadata: no key while the value is None (or False); the key a field has in JSON.
OMIT_NONE: Mapping[str, object] = {"omit_when": None}
OMIT_FALSE: Mapping[str, object] = {"omit_when": False}


def json_key(name: str) -> Mapping[str, object]:
    """Metadata of a field whose JSON key is not a Python name (``from``)."""
    return {"json_key": name}


class JsonFormError(UserError):
    """A stored value does not have the shape of its type; says which field, on one line."""


class _BadValue(ValueError):
    """A value of the wrong kind; the message says what it must be."""


def _shown(value: object, limit: int = 60) -> str:
    """A bad value as the error line quotes it: a whole stored object would drown the line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _strict(kind: type | tuple[type, ...], what: str) -> Callable[[object, type], Any]:
    """Take a value of ``kind`` as it is: a number is no string, nor true a number."""

    def structure(value: object, _: type) -> Any:
        if not isinstance(value, kind) or (isinstance(value, bool) and bool is not kind):
            raise _BadValue(f"must be {what}, not {_shown(value)}")
        return value

    return structure


def _enum(value: object, kind: type[Enum]) -> Enum:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(str(member.value) for member in kind)
        raise _BadValue(f"is {_shown(value)} (known: {known})") from None


def _builders(value: object, _: type) -> Builders:
    if not isinstance(value, str):
        raise _BadValue(f"must be a string, not {_shown(value)}")
    try:
        return Builders.parse(value)
    except UserError as error:
        raise _BadValue(str(error)) from None


def _renamed(cls: type) -> dict[str, Any]:
    return {
        f.name: override(rename=f.metadata["json_key"])
        for f in dataclasses.fields(cls)
        if "json_key" in f.metadata
    }


def _unstructure_fn(converter: Converter) -> Callable[[type], Callable[[Any], dict[str, Any]]]:
    """Every field in its place, less those whose metadata omits their value (cattrs's own
    omission would move the others to the end, and the files' key order is kept)."""

    def factory(cls: type) -> Callable[[Any], dict[str, Any]]:
        whole: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, converter, **_renamed(cls)
        )
        omitted = {
            f.metadata.get("json_key", f.name): f.metadata["omit_when"]
            for f in dataclasses.fields(cls)
            if "omit_when" in f.metadata
        }

        def unstructure(value: Any) -> dict[str, Any]:
            data = whole(value)
            return {k: v for k, v in data.items() if k not in omitted or v is not omitted[k]}

        return unstructure if omitted else whole

    return factory


def _structure_fn(converter: Converter) -> Callable[[type], Callable[[Any, type], Any]]:
    def factory(cls: type) -> Callable[[Any, type], Any]:
        return make_dict_structure_fn(cls, converter, **_renamed(cls))

    return factory


def _make() -> Converter:
    converter = Converter(
        unstruct_collection_overrides={tuple: list, Sequence: list}, forbid_extra_keys=False
    )
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "a whole number"))
    converter.register_structure_hook(float, _strict((int, float), "a number"))  # 3 stays 3
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    for kind in (Enum, StrEnum):  # a StrEnum is a str too: name it, or the str hook takes it
        converter.register_structure_hook(kind, _enum)
        converter.register_unstructure_hook(kind, lambda member: member.value)
    converter.register_structure_hook(Builders, _builders)
    converter.register_unstructure_hook(Builders, str)
    converter.register_unstructure_hook_factory(
        dataclasses.is_dataclass, _unstructure_fn(converter)
    )
    converter.register_structure_hook_factory(dataclasses.is_dataclass, _structure_fn(converter))
    return converter


CONVERTER = _make()


def to_json(value: object) -> Any:
    """``value`` as JSON data (dicts, lists, text, numbers), as the files store it."""
    return CONVERTER.unstructure(value)


def from_json(data: object, kind: type[T]) -> T:
    """``data`` read as a ``kind``; a JsonFormError names every bad field, on one line."""
    try:
        return CONVERTER.structure(data, kind)
    except BaseValidationError as error:
        found = transform_error(error, path="$", format_exception=_described)
        raise JsonFormError(f"bad field: {'; '.join(found)}") from None


def _described(error: BaseException, kind: type | None) -> str:
    if isinstance(error, _BadValue | UserError):  # says itself what is wrong
        return str(error)
    if isinstance(error, KeyError):
        return "missing"
    return format_exception(error, kind)
