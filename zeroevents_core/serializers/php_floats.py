"""Write JSON numbers and line terminators as PHP's ``json_encode`` does.

PHP (``serialize_precision = -1``) writes the shortest digits that round-trip, as
Python's ``repr`` does, but lays them out differently: no ``.0`` on integral values
(``1.0`` -> ``1``), plain digits up to 17 places before the point
(``1e16`` -> ``10000000000000000``), otherwise ``d.ddde+X`` with at least one
fractional digit and no exponent padding (``1e25`` -> ``1.0e+25``,
``3e-07`` -> ``3.0e-7``). It also escapes U+2028 and U+2029 even with
``JSON_UNESCAPED_UNICODE``. :func:`php_json` rewrites ``json.dumps`` (or orjson)
output to match.

Most frames need no rewriting: ``repr`` (and orjson) write a float as PHP does unless
it has an exponent, ends in ``.0`` (integral) or, from orjson only, is written
``0.0000ddd`` (orjson keeps 1e-5 <= |x| < 1e-4 in plain digits, PHP and ``repr`` do not;
the digits are the same, shortest that round-trip, checked on millions of doubles).
:func:`needs_php_rewrite` looks for those shapes, and U+2028/U+2029, with C-level
substring searches; a frame with none of them is already PHP's bytes.
"""

from __future__ import annotations

import re

# Python (and orjson) writes every float with a "." or a signed exponent: a text
# with neither has no float, and keeps the fast path (C-level substring scans).
_FLOAT = re.compile(r"-?\d+(?:\.\d+(?:e[+-]?\d+)?|e[+-]?\d+)")
# Escaped quotes break splitting on '"'; then strings are matched whole.
_STRING = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")')
# An exponent ending a number ("e-" alone is common in text: "5e-8d2b" in a UUID).
_EXPONENT = re.compile(rb"e[+-]\d+(?:[,\]}]|\Z)").search
# An integral float ("1.0", which PHP writes "1") or orjson's "0.0000ddd".
_INTEGRAL_OR_SMALL = re.compile(rb"\.0(?:[,\]}]|\Z|000)").search
# php_gcvt switches to exponent form past this many integer digits (precision 17).
_PHP_DIGITS = 17


def php_number(token: str) -> str:
    """One number token from ``json.dumps`` (``repr`` of a float, or an int) as PHP writes it."""
    if "." not in token and "e" not in token:
        return token
    sign = "-" if token.startswith("-") else ""
    mantissa, _, exponent = token.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # Value is 0.<digits> x 10**point, as zend_dtoa reports it.
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    if not digits:
        return sign + "0"
    if point < -3 or point > _PHP_DIGITS:
        power = point - 1
        return f"{sign}{digits[0]}.{digits[1:] or '0'}e{'+' if power >= 0 else '-'}{abs(power)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if len(digits) <= point:
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _rewrite(match: re.Match[str]) -> str:
    return php_number(match.group())


def _maybe_float(text: str) -> bool:
    return "." in text or "e+" in text or "e-" in text


def needs_php_rewrite(frame: bytes) -> bool:
    """Whether compact ``json.dumps`` or orjson bytes may differ from PHP's.

    False only when they cannot: no exponent, no integral float, no ``0.0000``, no
    U+2028/U+2029 (inside strings too: a false True only costs the rewrite). A memchr,
    then two searches, each in C from end to end: a Python loop of ``find`` and
    ``match`` paid a round for every "e-" of the text ("5e-8d2b" in a UUID), and
    ``in`` tests of each shape a scan each (3x the time on an order event)."""
    if b"\xe2" in frame and (b"\xe2\x80\xa8" in frame or b"\xe2\x80\xa9" in frame):
        return True
    return _INTEGRAL_OR_SMALL(frame) is not None or _EXPONENT(frame) is not None


def php_json_bytes(frame: bytes) -> bytes:
    """:func:`php_json` on UTF-8 bytes (``json.dumps`` or orjson output), skipped for
    frames that are already PHP's (:func:`needs_php_rewrite`)."""
    if needs_php_rewrite(frame):
        return php_json(frame.decode()).encode()
    return frame


def php_json(text: str) -> str:
    """``json.dumps`` output (compact, ``ensure_ascii=False``) rewritten to PHP's bytes."""
    if _maybe_float(text):
        escaped_quotes = '\\"' in text
        parts = _STRING.split(text) if escaped_quotes else text.split('"')
        parts[::2] = [
            _FLOAT.sub(_rewrite, part) if _maybe_float(part) else part for part in parts[::2]
        ]
        text = ("" if escaped_quotes else '"').join(parts)
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text
