"""Validate a :class:`~anyrack.document.Document` against a pydantic model, with located messages.

Pydantic's messages are written for programmers ("Input should be a valid string"); an operator
gets ``site.yaml:42: nodes[3].u: expected a whole number, got text '4U'`` instead, and a close
match for a misspelt key.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from anyrack.document import Document, Loc
from anyrack.errors import InvalidInput, Problem

M = TypeVar("M", bound=BaseModel)

_KINDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def validate(doc: Document, model: type[M]) -> M:
    """``model`` built from ``doc.data``; every field problem is raised at once, sorted by line."""
    if not isinstance(doc.data, dict):
        raise InvalidInput([doc.problem((), f"expected a mapping at the top of the file, got {_kind(doc.data)}")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        problems = [_problem(doc, model, e) for e in err.errors(include_url=False)]
    raise InvalidInput(sorted(set(problems), key=lambda p: (p.line, p.key)))


def _problem(doc: Document, model: type[BaseModel], error: Any) -> Problem:
    loc = doc.written(_clean_loc(error["loc"]))
    return doc.problem(loc, describe(error, model, loc))


def _clean_loc(loc: tuple) -> Loc:
    """Drop pydantic's internal steps (union branches, validator names, '[key]' markers)."""
    return tuple(p for p in loc if isinstance(p, int) or not any(c in p for c in "[]()"))


def describe(error: Any, model: type[BaseModel], loc: Loc) -> str:
    """One operator-facing sentence for one pydantic error dict."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1) if known else []
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}" if known else ""
        return f"unknown key{'; ' + hint if hint else ''}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")
        return f"{value!r} is not one of: {expected}"
    if kind in _KINDS:
        text = f"expected {_KINDS[kind]}, got {_kind(value)}"
        if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
            text += f" (quote it: '{value}')"
        return text
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)" if isinstance(value, list | dict) else \
            f"needs at least {ctx.get('min_length', 1)} character(s)"
    if kind == "too_long":
        return f"has more than {ctx.get('max_length')} item(s) or characters"
    if kind.startswith(("greater_than", "less_than")):
        return f"{value!r}: {error['msg'].replace('Input should be', 'must be')}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not have the expected form"
    return f"{value!r}: {error['msg']}" if value is not None else error["msg"]


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model found by walking ``loc`` from ``model`` (empty if not a model)."""
    current: Any = model
    for part in loc:
        current = _inner_model(current, part)
        if current is None:
            return []
    return sorted(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _inner_model(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return _unwrap(field.annotation) if field else None
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        return _unwrap(typing.get_args(annotation)[-1])
    return None


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...] | None`` → ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation
