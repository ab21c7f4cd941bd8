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

# Wire v2 (docs/wire-format.md, "Wire v2"): each vector is (arguments, frames in hex);
# the page shows the same hex, checked by tests/test_envelope.py.
V2_PRODUCER = bytes(range(16))
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
V2_EVENTS = [
    (
        {"seq": 1, "content_type": "json", "headers": {}, "ack_requested": False},
        "orders.created",
        [b'{"id":1}'],
        [
            "",
            "5a450201"
            "00"
            "000102030405060708090a0b0c0d0e0f"
            "0000000000000001"
            "04" + b"json".hex() + "000e" + b"orders.created".hex() + "0000",
            b'{"id":1}'.hex(),
        ],
    ),
    (
        {
            "seq": 42,
            "content_type": "msgpack",
            "headers": {"traceparent": TRACEPARENT},
            "ack_requested": True,
        },
        "ping",
        [],
        [
            "",
            "5a450201"
            "01"
            "000102030405060708090a0b0c0d0e0f"
            "000000000000002a"
            "07" + b"msgpack".hex() + "0004" + b"ping".hex() + "0001"
            "000b" + b"traceparent".hex() + "0037" + TRACEPARENT.encode().hex(),
        ],
    ),
]
# The first event's, its payload frame in the header's frame (flag 0x02).
V2_INLINE = (
    {"seq": 1, "content_type": "json", "headers": {}, "ack_requested": True},
    "orders.created",
    [b'{"id":1}'],
    [
        "",
        "5a450201"
        "03"
        "000102030405060708090a0b0c0d0e0f"
        "0000000000000001"
        "04" + b"json".hex() + "000e" + b"orders.created".hex() + "0000" + b'{"id":1}'.hex(),
    ],
)
V2_ACK = (
    {"cumulative": 41, "ranges": ((43, 45), (50, 50))},
    [
        "",
        "5a450202"
        "00"
        "000102030405060708090a0b0c0d0e0f"
        "0000000000000029"
        "0002"
        "000000000000002b"
        "000000000000002d"
        "0000000000000032"
        "0000000000000032",
    ],
)

# A batch of two events (docs/wire-format.md, "A batch"): each is (seq, payload frame),
# encoded with V2_PRODUCER, content type json, event orders.created, no headers.
_ORDER_HEADER = (
    "5a450201" "00" "000102030405060708090a0b0c0d0e0f" "{seq}"
    "04" + b"json".hex() + "000e" + b"orders.created".hex() + "0000"
)  # fmt: skip
V2_BATCH = (
    [(1, b'{"id":1}'), (2, b'{"id":2}')],
    [
        "",
        "5a450203"
        "0002"
        + "".join(
            "00000034"
            + _ORDER_HEADER.format(seq=f"{seq:016x}")
            + "0001"
            + "00000008"
            + payload.hex()
            for seq, payload in ((1, b'{"id":1}'), (2, b'{"id":2}'))
        ),
    ],
)
