"""The configuration's schema read back: the declared type at a key path, the keys a
section allows, every key path. For messages that name what is allowed, and for
environment overrides read as the key's declared type."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec

from gestalt.model.config.settings import Config


def unwrap(tp: Any) -> Any:
    """`Annotated[int, Meta]` -> int; `X | None` -> X (when there is one other member)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        others = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(others) == 1:
            return unwrap(others[0])
    return tp


def members(tp: Any) -> set[Any]:
    """The plain types a value of `tp` may have (a Literal of strings counts as str)."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(members(a) for a in typing.get_args(tp)))
    if origin is Literal:
        return {type(a) for a in typing.get_args(tp)}
    return {origin or tp}


def type_at(keys: list[str]) -> Any | None:
    """The declared type at a key path (`["server", "port"]` -> int), None if no such key."""
    tp: Any = Config
    for key in keys:
        tp = unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            fields = {f.encode_name: f.type for f in msgspec.structs.fields(tp)}
            if key not in fields:
                return None
            tp = fields[key]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return tp


def key_paths(cls: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path the schema declares (into sections, not into free mappings)."""
    for f in msgspec.structs.fields(cls):
        path = (*prefix, f.encode_name)
        yield path
        tp = unwrap(f.type)
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            yield from key_paths(tp, path)


def allowed_keys(path: str) -> list[str]:
    keys = [p for p in re.sub(r"\[[^]]*\]", "", path).split(".") if p]
    cls = unwrap(type_at(keys)) if keys else Config
    while typing.get_origin(cls) in (list, dict):
        cls = unwrap(typing.get_args(cls)[-1])
    if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
        return []
    return [f.encode_name for f in msgspec.structs.fields(cls)]
