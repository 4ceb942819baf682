"""ragline's filter language (``ragline.store.filters``) as Milvus boolean expressions.

    layout = Layout(strings=("uri", "path", "kind"), numbers=("page",))
    to_expression(parse_filter({"kind": {"in": ["pdf", "md"]}, "year": {"gte": 1990}}), layout)
    # 's_kind in ["pdf", "md"] and ((exists nums["year"]) and (nums["year"] >= 1990))'

Pure string building, no pymilvus: the table tests pin every form.

Where each key lives in a collection (see ``ragline.store.milvus``):

- ``doc_id`` is a typed VARCHAR field;
- promoted string keys (``uri``, ``path``, ``kind`` by default) are VARCHAR fields ``s_<key>`` holding
  the canonical tag text, "" when a chunk lacks the key;
- promoted number keys (``page`` by default) are DOUBLE fields ``n_<key>`` holding the number
  (ISO dates as UNIX seconds), NaN when a chunk lacks the key or it is not a number: every
  comparison with NaN is false, so ranges skip such chunks and negations keep them;
- every other key is read from two JSON fields: ``tags`` (key -> canonical tag text, for
  equality and prefixes, so 3 and "3" agree as in the local store) and ``nums`` (key -> number).
  JSON atoms are guarded by ``exists``: Milvus Lite gives a missing key NULL, which a ``not``
  would keep NULL (dropping the chunk), while ragline's negations must keep chunks lacking the key.

Prefixes use ``like "p%"`` when the prefix holds none of LIKE's metacharacters; otherwise the
range ``>= p and < next(p)``, because escaping differs across versions (Milvus 2.3 treats ``_``
literally and has no escapes; Milvus Lite treats ``_`` as a wildcard and ``\\_`` as an escape).
Milvus Lite cannot apply ``in`` to a JSON path, so JSON equality is a chain of ``==``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ragline.errors import ConfigError
from ragline.store.base import tag
from ragline.store.filters import RANGE_OPS, AnyOf, Condition, Prefix, Range, _prefix_upper, numeric_value

DEFAULT_STRINGS = ("uri", "path", "kind")
DEFAULT_NUMBERS = ("page",)
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,60}$")
_LIKE_META = set("%_\\")


@dataclass(frozen=True)
class Layout:
    """Which metadata keys have typed fields of their own."""

    strings: tuple[str, ...] = DEFAULT_STRINGS
    numbers: tuple[str, ...] = DEFAULT_NUMBERS

    def __post_init__(self) -> None:
        for key in (*self.strings, *self.numbers):
            if not _FIELD_NAME.match(key) or key == "doc_id":
                raise ConfigError(f"cannot give metadata key {key!r} a typed Milvus field: use a name of "
                                  "letters, digits and '_' (not 'doc_id', which always has one)")
        if set(self.strings) & set(self.numbers):
            raise ConfigError(f"keys {sorted(set(self.strings) & set(self.numbers))} are promoted as both "
                              "strings and numbers; choose one")


def literal(value: str) -> str:
    """A Milvus string literal (JSON escapes, which Milvus and Milvus Lite both read)."""
    return json.dumps(value, ensure_ascii=False)


def number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return repr(float(value))


def _tag_value(key: str, value: Any) -> str:
    return tag(key, value)[len(key) + 1:]


def _integral(values: tuple[Any, ...]) -> list[float] | None:
    """The values as numbers when each is an integer or an integer written as text (so the
    canonical tag text of the number equals the filter's); None otherwise."""
    numbers = []
    for value in values:
        if isinstance(value, bool):
            return None
        if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,15}", value.strip())):
            numbers.append(float(int(value)))
        else:
            return None
    return numbers


def _json_path(field: str, key: str) -> str:
    return f"{field}[{literal(key)}]"


def _guarded(field: str, key: str, test: str) -> str:
    return f"((exists {_json_path(field, key)}) and ({test}))"


def _any_of(condition: AnyOf, layout: Layout) -> str:
    key = condition.key
    texts = [_tag_value(key, v) for v in condition.values]
    if key == "doc_id" or (key in layout.strings and all(texts)):
        column = "doc_id" if key == "doc_id" else f"s_{key}"
        if len(texts) == 1:
            return f"{column} == {literal(texts[0])}"
        return f"{column} in [{', '.join(literal(t) for t in texts)}]"
    if key in layout.numbers:
        numbers = _integral(condition.values)
        if numbers is not None:
            if len(numbers) == 1:
                return f"n_{key} == {number(numbers[0])}"
            return f"n_{key} in [{', '.join(number(n) for n in numbers)}]"
    path = _json_path("tags", key)
    return _guarded("tags", key, " or ".join(f"{path} == {literal(t)}" for t in texts))


def _range(condition: Range, layout: Layout) -> str:
    op = RANGE_OPS[condition.op]
    if condition.key in layout.numbers:
        return f"n_{condition.key} {op} {number(condition.bound)}"
    return _guarded("nums", condition.key, f"{_json_path('nums', condition.key)} {op} {number(condition.bound)}")


def _prefix_test(column: str, prefix: str) -> str:
    if _LIKE_META & set(prefix):
        return f"{column} >= {literal(prefix)} and {column} < {literal(_prefix_upper(prefix))}"
    return f"{column} like {literal(prefix + '%')}"


def _prefix(condition: Prefix, layout: Layout) -> str:
    key = condition.key
    if key == "doc_id":
        return _prefix_test("doc_id", condition.prefix)
    if key in layout.strings:
        return f"({_prefix_test(f's_{key}', condition.prefix)})"
    return _guarded("tags", key, _prefix_test(_json_path("tags", key), condition.prefix))


def _atom(condition: Condition, layout: Layout) -> str:
    if isinstance(condition, AnyOf):
        return _any_of(condition, layout)
    if isinstance(condition, Range):
        return _range(condition, layout)
    if isinstance(condition, Prefix):
        return _prefix(condition, layout)
    return f"not ({to_expression(condition.conditions, layout)})"


def to_expression(conditions: tuple[Condition, ...], layout: Layout) -> str:
    """The conditions (ANDed) as one Milvus boolean expression; "" for none."""
    return " and ".join(f"({_atom(c, layout)})" if len(conditions) > 1 else _atom(c, layout) for c in conditions)


def scalar_fields(metadata: dict[str, Any], doc_id: str, layout: Layout) -> dict[str, Any]:
    """The filterable fields of one chunk's row: typed columns plus the ``tags``/``nums`` JSON."""
    tags: dict[str, str] = {}
    nums: dict[str, float] = {}
    for key, value in metadata.items():
        if isinstance(value, (str, int, float, bool)) and len(str(value)) <= 512:
            tags[key] = _tag_value(key, value)
        numeric = numeric_value(value)
        if numeric is not None:
            nums[key] = numeric
    row: dict[str, Any] = {"doc_id": doc_id, "tags": tags, "nums": nums}
    for key in layout.strings:
        row[f"s_{key}"] = tags.get(key, "")
    for key in layout.numbers:
        row[f"n_{key}"] = nums.get(key, math.nan)
    return row
