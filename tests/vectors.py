"""The test vectors of ../shared/design/wire-format.md, from the PHP original's suite.

``FRAMES`` is what the original sends for ``encode("event", VALUES)``; its decode
vector is the same message less the trailing ``{}``.
"""

VALUES = [None, 1, True, "string", [1, 2, 3], {"key": "value"}, "при/вет", {}]
FRAMES = [
    b"event",
    b"null",
    b"1",
    b"true",
    b'"string"',
    b"[1,2,3]",
    b'{"key":"value"}',
    '"при/вет"'.encode(),
    b"{}",
]
