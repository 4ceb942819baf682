"""Metadata filters: the Python form, its validation, and its translation to SQLite.

    where = parse_filter({"kind": {"in": ["pdf", "html"]}, "year": {"gte": 1990},
                          "uri": {"prefix": "file:///docs/"}, "not": {"lang": "de"}})
    sql, params = to_sql(where, namespace="default")   # SELECT of the matching chunk row ids

The form (every condition ANDed):

- ``{"key": value}``                          equality (the original, still valid form)
- ``{"key": {"eq": v} | {"ne": v}}``          equal / not equal
- ``{"key": {"in": [v, ...]}}``               any of; ``not_in`` for none of
- ``{"key": {"gt"|"gte"|"lt"|"lte": bound}}`` numeric range, or date range when the bound is
  an ISO date (``"2021-03-01"``, ``"2021-03-01T12:00:00Z"``; naive times are UTC)
- ``{"key": {"prefix": "file:///docs/"}}``    string prefix, e.g. every file under a folder
- ``{"not": {...}}``                           the negation of a whole filter; a list of filters
  negates each of them
- a list of filters ANDs them (so one key may appear twice)

Several operators in one ``{"key": {...}}`` are ANDed too (``{"gte": 1990, "lt": 2000}``).
Negations (``ne``, ``not_in``, ``not``) also match chunks that lack the key. A filter that
cannot be understood raises ``QueryError`` saying what is wrong.

Equality and prefix use the ``key=value`` tags of ``chunk_tags``; ranges use ``chunk_nums``, where
each numeric, numeric-string or ISO-date metadata value is stored as a REAL (dates as UNIX seconds).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ragline.errors import QueryError
from ragline.store.base import tag

Scalar = str | int | float | bool

RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
OPERATORS = ("eq", "ne", "in", "not_in", *RANGE_OPS, "prefix")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


# ----- the parsed form ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AnyOf:
    """The key equals one of the values (equality is AnyOf with one value)."""

    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    op: str          # one of RANGE_OPS
    bound: float     # a number, or a date as UNIX seconds


@dataclass(frozen=True, slots=True)
class Prefix:
    key: str
    prefix: str


@dataclass(frozen=True, slots=True)
class Not:
    conditions: tuple[Condition, ...]  # ANDed, then negated


Condition = AnyOf | Range | Prefix | Not


# ----- values --------------------------------------------------------------------------------
def parse_date(text: str) -> float | None:
    """UNIX seconds of an ISO date or date-time (naive means UTC); None if it is not one."""
    if not _ISO_DATE.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def numeric_value(value: Any) -> float | None:
    """The REAL a metadata value is range-filtered on: numbers, numeric strings, ISO dates."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        text = value.strip()
        if _NUMBER.match(text):
            number = float(text)
        else:
            date = parse_date(text)
            if date is None:
                return None
            number = date
    else:
        return None
    return number if math.isfinite(number) else None


def metadata_numbers(metadata: dict[str, Any]) -> list[tuple[str, float]]:
    numbers = []
    for key, value in metadata.items():
        number = numeric_value(value)
        if number is not None:
            numbers.append((key, number))
    return numbers


def _range_bound(key: str, op: str, bound: Any) -> float:
    number = numeric_value(bound)
    if number is None:
        raise QueryError(f"filter {key!r}: {op} needs a number or an ISO date (YYYY-MM-DD[THH:MM[:SS]]), "
                         f"got {bound!r}")
    return number


def _scalar(key: str, value: Any) -> Scalar:
    if not isinstance(value, (str, int, float, bool)):
        raise QueryError(f"filter {key!r}: a value must be a string, number or boolean, got {value!r}")
    return value


# ----- parsing -------------------------------------------------------------------------------
def parse_filter(filter: Any) -> tuple[Condition, ...]:
    """Validate a filter in the Python form and return its conditions (ANDed)."""
    if filter is None:
        return ()
    if isinstance(filter, (list, tuple)):
        return tuple(c for part in filter for c in parse_filter(part))
    if not isinstance(filter, dict):
        raise QueryError(f"a filter is a dict (or a list of dicts), got {type(filter).__name__}")
    conditions: list[Condition] = []
    for key, spec in filter.items():
        if key == "not":
            parts = spec if isinstance(spec, (list, tuple)) else [spec]
            if not parts:
                raise QueryError("filter 'not' needs a filter to negate")
            for part in parts:
                negated = parse_filter(part)
                if not negated:
                    raise QueryError("filter 'not' needs a non-empty filter to negate")
                conditions.append(Not(negated))
            continue
        if not isinstance(key, str) or not key or "=" in key:
            raise QueryError(f"filter key {key!r} must be a non-empty string without '='")
        if isinstance(spec, dict):
            if not spec:
                raise QueryError(f"filter {key!r}: empty operator dict; use one of {', '.join(OPERATORS)}")
            for op, value in spec.items():
                conditions.append(_condition(key, op, value))
        else:
            conditions.append(AnyOf(key, (_scalar(key, spec),)))
    return tuple(conditions)


def _condition(key: str, op: str, value: Any) -> Condition:
    if op in ("eq", "ne"):
        condition: Condition = AnyOf(key, (_scalar(key, value),))
        return Not((condition,)) if op == "ne" else condition
    if op in ("in", "not_in"):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise QueryError(f"filter {key!r}: {op} needs a list of values, got {value!r}")
        values = tuple(_scalar(key, v) for v in value)
        if not values:
            raise QueryError(f"filter {key!r}: {op} needs at least one value")
        condition = AnyOf(key, values)
        return Not((condition,)) if op == "not_in" else condition
    if op in RANGE_OPS:
        return Range(key, op, _range_bound(key, op, value))
    if op == "prefix":
        if not isinstance(value, str) or not value:
            raise QueryError(f"filter {key!r}: prefix needs a non-empty string, got {value!r}")
        return Prefix(key, value)
    raise QueryError(f"filter {key!r}: unknown operator {op!r}; use one of {', '.join(OPERATORS)}")


# ----- SQL -----------------------------------------------------------------------------------
def _prefix_upper(text: str) -> str:
    """The smallest string above every string that starts with ``text`` (code-point order,
    which is also SQLite's BINARY order on UTF-8)."""
    last = ord(text[-1])
    if last < 0x10FFFF:
        return text[:-1] + chr(last + 1)
    return text + "\U0010ffff"


def _select(condition: Condition, namespace: str, params: list[Any]) -> str:
    """A SELECT of the chunk row ids matching one condition."""
    if isinstance(condition, AnyOf):
        params += [tag(condition.key, v) for v in condition.values]
        marks = ",".join("?" * len(condition.values))
        return f"SELECT chunk FROM chunk_tags WHERE tag IN ({marks})"
    if isinstance(condition, Range):
        params += [condition.key, condition.bound]
        return f"SELECT chunk FROM chunk_nums WHERE key = ? AND value {RANGE_OPS[condition.op]} ?"
    if isinstance(condition, Prefix):
        low = tag(condition.key, condition.prefix)
        params += [low, _prefix_upper(low)]
        return "SELECT chunk FROM chunk_tags WHERE tag >= ? AND tag < ?"
    params.append(namespace)
    inner = _intersection(condition.conditions, namespace, params)
    return f"SELECT id AS chunk FROM chunks WHERE namespace = ? EXCEPT SELECT chunk FROM ({inner})"


def _intersection(conditions: tuple[Condition, ...], namespace: str, params: list[Any]) -> str:
    return " INTERSECT ".join(f"SELECT * FROM ({_select(c, namespace, params)})" for c in conditions)


def to_sql(conditions: tuple[Condition, ...], namespace: str) -> tuple[str, list[Any]]:
    """A query of the chunk row ids that satisfy every condition, in no particular order.

    Negations only ever yield this namespace's rows; positive conditions may also yield rows of
    other namespaces (tags carry no namespace), which the namespace's own indexes do not hold.
    """
    if not conditions:
        raise ValueError("no conditions")
    params: list[Any] = []
    return _intersection(conditions, namespace, params), params


def is_native(condition: Condition) -> bool:
    """Whether a condition can be answered from 'key=value' tag terms alone (no ranges)."""
    if isinstance(condition, Not):
        return all(is_native(c) for c in condition.conditions)
    return not isinstance(condition, Range)


# ----- the command-line form -------------------------------------------------------------------
_CLI_IN = re.compile(r"^\s*(?P<key>[^\s=!<>^]+)\s+(?P<neg>not\s+)?in\s+(?P<values>.+?)\s*$", re.IGNORECASE)
_CLI_OP = re.compile(r"^\s*(?P<key>[^\s=!<>^]+)\s*(?P<op>>=|<=|!=|==|\^=|=|>|<)\s*(?P<value>.*?)\s*$")
_CLI_OPS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt", "!=": "ne", "==": "eq", "=": "eq", "^=": "prefix"}
WHERE_HELP = ("key=v, key!=v, key>=v (also >, <, <=; numbers or ISO dates), key in a,b, "
              "key not in a,b, key^=prefix; 'not ' before any of them negates it")


def parse_where(expression: str) -> dict[str, Any]:
    """One ``--where`` expression as a filter in the Python form.

    ``year>=1990`` -> ``{"year": {"gte": "1990"}}``; ``kind in pdf,html`` ->
    ``{"kind": {"in": ["pdf", "html"]}}``; ``not lang=de`` -> ``{"not": {"lang": {"eq": "de"}}}``.
    Values stay strings: equality compares the canonical 'key=value' text (so 3 and "3" agree),
    and ranges read numbers and dates from strings.
    """
    text = expression.strip()
    if text[:4].lower() == "not ":
        return {"not": parse_where(text[4:])}
    match = _CLI_IN.match(text)
    if match:
        values = [v.strip() for v in match["values"].split(",") if v.strip()]
        return {match["key"]: {"not_in" if match["neg"] else "in": values}}
    match = _CLI_OP.match(text)
    if match is None or not match["value"]:
        raise QueryError(f"cannot read the filter {expression!r}; use {WHERE_HELP}")
    return {match["key"]: {_CLI_OPS[match["op"]]: match["value"]}}
