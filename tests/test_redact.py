"""Secrets never survive ``redact``; ordinary error text does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline.redact import REDACTED, redact

SECRETS = ["sk-proj-AbC123dEf456GhI789jKl", "sk-Zy98Xw76Vu54Ts32Rq10", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4",
           "xoxb-1234567890-abcdefghij", "AKIAIOSFODNN7EXAMPLE", "hf_AbCdEfGhIjKlMnOpQrStUvWx",
           "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
           "Q2xhdWRlIGlzIGEgZ3JlYXQgbW9kZWwhIDEyMzQ1Ng9x"]


@pytest.mark.parametrize("template", [
    '{{"error": {{"message": "Incorrect API key provided: {}. Find your key at https://x/keys."}}}}',
    "Authorization: Bearer {}", "GET /v1/embeddings?api_key={}&model=m", '{{"api_key": "{}"}}',
    "x-api-key={}", "token {}", "the server said: {} is revoked",
])
@pytest.mark.parametrize("secret", SECRETS)
def test_known_secret_shapes_are_removed_wherever_they_appear(template, secret):
    message = template.format(secret)
    cleaned = redact(message)
    assert secret not in cleaned and REDACTED in cleaned


@pytest.mark.parametrize("message", [
    "HTTP 404: model 'text-embedding-3-small' not found",
    "token limit exceeded: 9000 tokens > 8192",
    "chunk 3f2a9c1b7d4e5f60718293a4b5c6d7e8 is missing from the ANN index",
    "password reset is not supported by this server",
    "HTTP 503: upstream connect error or disconnect/reset before headers",
])
def test_ordinary_messages_are_left_alone(message):
    assert redact(message) == message


@settings(max_examples=200, deadline=None)
@given(secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=4, max_size=60),
       before=st.text(max_size=40), after=st.text(max_size=40))
def test_the_exact_secret_given_is_always_removed(secret, before, after):
    assert secret not in redact(before + secret + after, [secret]).replace(REDACTED, "\0")
