"""Embedder specs are checked where they enter: every bad one is a ConfigError saying what to change."""

from __future__ import annotations

import pytest

from ragline.embed import open_embedder
from ragline.errors import ConfigError


@pytest.mark.parametrize("spec, options, message", [
    ("hashing:0", {}, "dimension must be in 1..65536"),
    ("hashing:-3", {}, "dimension must be in 1..65536"),
    ("hashing:abc", {}, "needs a whole number"),
    ("onnx:?threads=0", {}, "threads='0' must be at least 1"),
    ("onnx:?token_budget=-5", {}, "token_budget='-5' must be at least 1"),
    ("onnx:?max_batch=0", {}, "max_batch='0' must be at least 1"),
    ("onnx:?threads=two", {}, "is not a int"),
    ("onnx:?colour=blue", {}, "unknown onnx embedder option 'colour'"),
    ("onnx-int9", {}, "precision 'int9'"),
    ("nonsense", {}, "unknown embedder"),
    ("openai:m", {"dimensions": 0}, "dimensions must be > 0"),
    ("openai:m", {"concurrency": 0}, "concurrency"),
    ("openai:m", {"timeout": 0}, "timeout must be > 0"),
    ("openai:m", {"max_attempts": 0}, "max_attempts >= 1"),
    ("openai:m", {"requests_per_minute": -1}, "requests_per_minute must be > 0"),
    ("openai:m", {"batch": 5}, "unknown remote embedder option"),
    ("openai:m", {"base_url": "ftp://x"}, "must look like https://host"),
])
def test_bad_specs_are_config_errors(spec, options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?").replace(".", r"\.")):
        open_embedder(spec, **options)


def test_good_specs_still_open():
    assert open_embedder("hashing:32").dim == 32
    assert open_embedder("onnx:?threads=1").threads == 1
