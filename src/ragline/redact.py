"""Remove secrets from text before it is printed, stored (dead letters, ledger errors) or logged.

    redact('401: {"error": "Incorrect API key provided: sk-proj-abc123...xyz"}')
    # -> '401: {"error": "Incorrect API key provided: [REDACTED]"}'

Remote servers echo what they were sent: a rejected key, an ``Authorization`` header, a URL
with ``?api_key=``. ``redact`` replaces the values of key-like fields, bearer/basic
credentials, tokens with a well-known prefix (OpenAI, GitHub, Slack, AWS, Google, Hugging
Face, JWTs), any long mixed-case alphanumeric run that looks like a key, and every exact
secret it is given (the key ragline itself sent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# name=value / "name": "value" pairs whose value is a credential.
_FIELD = re.compile(
    r"""(?ix)
    ( (?:x-)?api[_-]?key | apikey | access[_-]?token | refresh[_-]?token | auth[_-]?token | id[_-]?token
    | client[_-]?secret | secret[_-]?key | secret | password | passwd | pwd | token | session[_-]?id
    | authorization | proxy-authorization | cookie | set-cookie | x-auth-token )
    ( ["']? \s* [:=] \s* ["']? )
    (?!\[REDACTED\])
    ( (?:bearer\s+|basic\s+|token\s+)? [^\s"',;&<>]{4,} )
    """)
# Credentials after an auth scheme, wherever they appear.
_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)(\s+)(?!\[REDACTED\])([A-Za-z0-9._~+/=-]{8,})")
# Tokens recognisable by their prefix.
_PREFIXED = re.compile(
    r"""(?x)
    \b(?: sk-[A-Za-z0-9_-]{8,}                       # OpenAI (sk-..., sk-proj-...)
        | (?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}    # GitHub
        | github_pat_[A-Za-z0-9_]{20,}
        | xox[abprs]-[A-Za-z0-9-]{10,}                # Slack
        | (?:AKIA|ASIA)[0-9A-Z]{16}                   # AWS access key ids
        | AIza[0-9A-Za-z_-]{30,}                      # Google
        | hf_[A-Za-z0-9]{20,}                         # Hugging Face
        | eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}  # JWT
    )""")
# Anything else key-shaped: 32+ characters mixing upper case, lower case and digits (hex ids and
# hashes, lower case only, are left alone; so are words).
_KEYLIKE = re.compile(r"(?<![A-Za-z0-9_+/=-])[A-Za-z0-9_+/=-]{32,}(?![A-Za-z0-9_+/=-])")


def _looks_like_key(token: str) -> bool:
    return (any(c.isupper() for c in token) and any(c.islower() for c in token)
            and any(c.isdigit() for c in token))


def _scheme_value(match: re.Match[str]) -> str:
    # "Bearer X" is always a credential; "basic"/"token" are also words, so their value must
    # look encoded (hold a digit) to count ("token limit exceeded" stays as it is).
    scheme, space, value = match.groups()
    if scheme.lower() == "bearer" or any(c.isdigit() for c in value):
        return f"{scheme}{space}{REDACTED}"
    return match.group()


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret-looking value replaced by ``[REDACTED]``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _SCHEME.sub(_scheme_value, text)
    text = _PREFIXED.sub(REDACTED, text)
    return _KEYLIKE.sub(lambda m: REDACTED if _looks_like_key(m.group()) else m.group(), text)


__all__ = ["REDACTED", "redact"]
