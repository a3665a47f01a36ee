"""Fuzz the job decoder: whatever a producer puts in a job, decoding either
gives a valid Notification or raises InvalidNotification whose message starts
"invalid notification:" and names the field; never another exception (which would
make BullMQ retry a job that can never succeed).

The inputs are what `bullmq.Job.fromJSON` hands the processor: `json.loads` output, so
NaN, infinities, integers of any size and lone surrogates (from `"\\ud800"` escapes)
are all fair game. Deviations found (all fixed) are regression tests at the end.
"""

import copy
import re
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from jobformat import InvalidNotification, Notification, NotificationDecoder
from jobformat.decode import MAX_EVENT_NAME_LENGTH, MAX_ID_LENGTH, RESERVED_EVENTS, iso_timestamp
from tests.fuzz.budget import run_property

NAMESPACES = ("/data_owner", "/billing")
MAX_PAYLOAD_BYTES = 16384
DECODER = NotificationDecoder(NAMESPACES, MAX_PAYLOAD_BYTES, "bull")
QUEUE = "critical-events"
JOB_ID = "job-1"
# 9999-12-31T23:59:59.999Z: later creation times are finding F7 (regression test below).
LAST_CREATED_MS = 253_402_300_799_999
FIRST_CREATED_MS = -(10**12)
# What orjson (and so the emit) can encode.
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1

# "invalid notification: <field> ...": the field is named first, then a space.
NAMES_A_FIELD = re.compile(
    r"^invalid notification: (job name|job data|job opts|job timestamp|namespace|id"
    r"|rooms(\[\d+\])?|data|metadata|metadata\.trace_id|metadata\.timestamp) "
)

# --- strategies: any JSON value json.loads can produce ---

any_character = st.characters() | st.characters(categories=["Cs"])  # lone surrogates too
hostile_text = st.text(any_character, max_size=24)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(UINT64_MAX - 2, UINT64_MAX + 2)
    | st.integers(INT64_MIN - 2, INT64_MIN + 2)
    | st.floats()
    | hostile_text
)


def json_shaped(
    scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str], size: int, leaves: int
) -> st.SearchStrategy[Any]:
    """JSON-shaped values: `scalars`, and lists and objects (keyed by `keys`) of them."""
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=size)
        | st.dictionaries(keys, children, max_size=size),
        max_leaves=leaves,
    )


json_values = json_shaped(json_scalars, hostile_text, size=4, leaves=12)


def nested(depth: int, kind: str = "{") -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if kind == "{" else [value]
    return value


deep_values = st.builds(nested, st.integers(200, 3_000), st.sampled_from(["{", "["]))
huge_strings = st.integers(MAX_PAYLOAD_BYTES - 64, 400_000).map(lambda size: "x" * size)

# --- strategies: valid parts (surrogate-free, ints orjson can encode) ---

safe_character = st.characters(exclude_categories=["Cs"])
safe_text = st.text(safe_character, max_size=20)
safe_scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, UINT64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | safe_text
)
safe_values = json_shaped(safe_scalars, safe_text, size=3, leaves=8)
safe_objects = st.dictionaries(safe_text, safe_values, max_size=4)
_NOT_PRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
valid_events = st.one_of(
    st.sampled_from(["records:updated", "resources:created", "system:alert"]),
    st.text(
        st.characters(exclude_categories=_NOT_PRINTABLE, include_characters=" "),
        min_size=1,
        max_size=MAX_EVENT_NAME_LENGTH,
    ).filter(lambda name: name not in RESERVED_EVENTS),
)
room_character = safe_character.filter(lambda c: not c.isspace())
valid_rooms = st.builds(
    lambda kind, first, rest: f"{kind}:{first}{rest}",
    st.sampled_from(["user", "department"]),
    room_character.filter(lambda c: c != ":"),
    st.text(room_character, max_size=24) | st.just("r" * 255),
)
valid_ids = st.one_of(
    st.integers(INT64_MIN, UINT64_MAX),
    st.text(safe_character, min_size=1, max_size=MAX_ID_LENGTH),
    st.just("i" * MAX_ID_LENGTH),
)
trace_values = st.none() | st.text(safe_character, min_size=1, max_size=40)
valid_metadata = st.fixed_dictionaries(
    {}, optional={"trace_id": trace_values, "timestamp": trace_values, "triggered_by": safe_text,
                  "department": safe_text}
)
# Near misses: a valid room with one whitespace or control character put into it.
# (A single trailing "\n" is finding F8, tested below, so it is left out.)
_SPACES = ["\n", " ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "\u3000"]


def _spoil(room: str, space: str, where: str) -> str:
    if where == "end" and space != "\n":
        return room + space
    position = len(room) // 2 if where == "middle" else len(room) - 1
    return room[:position] + space + room[position:]


near_miss_rooms = st.one_of(
    st.builds(_spoil, valid_rooms, st.sampled_from(_SPACES), st.sampled_from(["end", "middle"])),
    valid_rooms.map(lambda room: room.replace(":", "::", 1)),
)
created_times = st.integers(FIRST_CREATED_MS, LAST_CREATED_MS) | st.integers(
    1_700_000_000_000, 1_900_000_000_000
)


@st.composite
def valid_jobs(draw: st.DrawFn) -> tuple[str, dict[str, Any], int]:
    body: dict[str, Any] = {
        "namespace": draw(st.sampled_from(NAMESPACES)),
        "rooms": draw(st.lists(valid_rooms, min_size=1, max_size=6)),
        "id": draw(valid_ids),
    }
    for field, values in (("data", safe_objects), ("metadata", valid_metadata)):
        choice = draw(st.integers(0, 2))
        if choice == 1:
            body[field] = draw(values)
        elif choice == 2:
            body[field] = None
    body.update(draw(st.dictionaries(st.sampled_from(["extra", "priority"]), safe_values)))
    return draw(valid_events), body, draw(created_times)


# --- strategies: anything at all, field by field ---

_MOSTLY = st.integers(0, 9)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` six times in ten, else `other`: so later fields get checked too (the
    decoder stops at the first bad one)."""
    return _MOSTLY.flatmap(lambda n: valid if n < 6 else other)


hostile_events = mostly(valid_events, st.one_of(
    st.sampled_from(sorted(RESERVED_EVENTS)),
    hostile_text,
    st.sampled_from(["", "records:\nupdated", "\x00", "records:updated\u202e", "a\tb", "\ud800"]),
    st.integers(MAX_EVENT_NAME_LENGTH + 1, 5_000).map(lambda size: "e" * size),
    json_values,
))
hostile_rooms = st.one_of(
    valid_rooms,
    hostile_text,
    st.builds(
        lambda kind, rest: f"{kind}:{rest}",
        st.sampled_from(["user", "department", "User", "admin", ""]),
        hostile_text,
    ),
    near_miss_rooms,
    st.sampled_from(["user:", "user:a b", "user::1", "user:\u3000x", "user"]),
    st.just("user:" + "x" * 257),
    json_values,
)
room_lists = mostly(st.lists(valid_rooms, min_size=1, max_size=5), st.one_of(
    st.lists(hostile_rooms, max_size=5),
    st.integers(999, 1_002).map(lambda size: [f"user:{n}" for n in range(size)]),
    json_values,
))
# Unhashable namespaces (lists, objects) are finding F6, tested below.
hashable_namespaces = mostly(st.sampled_from(NAMESPACES), st.one_of(
    st.sampled_from(["/other", "/", "data_owner", "/DATA_OWNER", "/data_owner ", ""]),
    json_scalars,
))
hostile_ids = mostly(valid_ids, st.one_of(
    st.sampled_from([True, False, 0, -1, 1.0, 1.5, "", None]),
    st.integers(MAX_ID_LENGTH + 1, 2_000).map(lambda size: "i" * size),
    json_values,
))
hostile_objects = mostly(safe_objects, st.one_of(
    json_values, deep_values, huge_strings.map(lambda blob: {"blob": blob})
))
hostile_metadata = mostly(valid_metadata, st.one_of(
    st.fixed_dictionaries({}, optional={"trace_id": json_values, "timestamp": json_values}),
    json_values,
))
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "namespace": hashable_namespaces,
    "rooms": room_lists,
    "id": hostile_ids,
    "data": hostile_objects,
    "metadata": hostile_metadata,
}


@st.composite
def hostile_bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 4)) == 3:
        return draw(json_values | deep_values | huge_strings)  # not even an object, maybe
    body: dict[str, Any] = draw(st.dictionaries(hostile_text, json_values, max_size=2))
    for field, values in _FIELDS.items():
        if draw(st.integers(0, 9)) != 4:  # usually present
            body[field] = draw(values)
    return body


# --- checks ---


def assert_rejection_is_clean(error: InvalidNotification) -> None:
    message = str(error)
    assert NAMES_A_FIELD.match(message), message
    message.encode("utf-8")  # it becomes the job's failedReason, written to Redis
    assert len(message) <= 400, message


def _contract_room(room: str) -> bool:
    kind, _, name = room.partition(":")
    return (
        kind in ("user", "department")
        and 0 < len(name) <= 256
        and not name.startswith(":")
        and not any(character.isspace() for character in name)
    )


def assert_valid_notification(
    notification: Notification, event: Any, body: Any, created_ms: int
) -> None:
    assert notification.event == event and isinstance(event, str)
    assert 0 < len(event) <= MAX_EVENT_NAME_LENGTH and event.isprintable()
    assert event not in RESERVED_EVENTS
    assert isinstance(body, dict) and notification.namespace == body["namespace"] in NAMESPACES
    assert notification.rooms == tuple(dict.fromkeys(body["rooms"])) and notification.rooms
    assert all(_contract_room(room) for room in notification.rooms), notification.rooms
    resource_id = body["id"]
    assert type(resource_id) in (str, int) and notification.resource_id is resource_id
    payload = notification.payload
    assert set(payload) == {"id", "data", "metadata"} and payload["id"] is resource_id
    assert payload["data"] == (body.get("data") or {})
    _assert_metadata(payload["metadata"], body.get("metadata") or {}, created_ms)
    assert notification.created_at_ms == created_ms
    # What the emit sends, and what the throttle stores, can be encoded.
    orjson.dumps(payload)
    assert Notification.from_bytes(notification.to_bytes()).to_bytes() == notification.to_bytes()


def _assert_metadata(metadata: dict[str, Any], given: dict[str, Any], created_ms: int) -> None:
    for key, value in given.items():
        if key in ("trace_id", "timestamp") and value is None:
            continue
        assert metadata[key] is value, key
    derived = {
        "trace_id": DECODER.trace_id(QUEUE, JOB_ID, created_ms),
        "timestamp": iso_timestamp(created_ms),
    }
    for key, default in derived.items():
        if given.get(key) is None:
            assert metadata[key] == default
        assert isinstance(metadata[key], str) and metadata[key]


def decode(event: Any, body: Any, created_ms: int) -> Notification:
    return DECODER.decode(QUEUE, JOB_ID, event, body, created_ms)


# --- 1. Anything: a valid Notification or a clean rejection ---


def test_decoder_accepts_or_cleanly_rejects_anything() -> None:
    def check(case: tuple[Any, Any, int]) -> None:
        event, body, created_ms = case
        try:
            notification = decode(event, body, created_ms)
        except InvalidNotification as error:
            assert_rejection_is_clean(error)
        else:
            assert_valid_notification(notification, event, body, created_ms)

    run_property(
        "decode: arbitrary job name and data",
        st.tuples(hostile_events, hostile_bodies(), created_times),
        check,
    )


# --- 2. Valid jobs: always accepted, exactly as given, and never modified ---


def test_valid_jobs_are_decoded_exactly() -> None:
    def check(case: tuple[str, dict[str, Any], int]) -> None:
        event, body, created_ms = case
        before = copy.deepcopy(body)
        notification = decode(event, body, created_ms)
        assert body == before, "the decoder changed the job's data"
        assert_valid_notification(notification, event, body, created_ms)

    run_property("decode: valid jobs", valid_jobs(), check)


# --- 3. One bad field in a valid job: rejected, naming that very field ---


# Wrong values, built once (strategies made inside a draw are validated on every draw).
_NOT_AN_OBJECT = safe_scalars.filter(lambda value: value is not None) | st.lists(
    safe_scalars, max_size=2
)
_WRONG = {
    "namespace": safe_scalars.filter(lambda value: value not in NAMESPACES)
    | st.sampled_from(["/DATA_OWNER", "/data_owner/", "/other"]),
    "id": st.one_of(
        st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False),
        st.just(""), st.just("i" * (MAX_ID_LENGTH + 1)), st.lists(safe_scalars, max_size=2),
        st.dictionaries(safe_text, safe_scalars, max_size=2),
    ),
    "data": _NOT_AN_OBJECT,
    "metadata": _NOT_AN_OBJECT,
    "metadata.trace_id": st.just("") | _NOT_AN_OBJECT.filter(lambda v: not isinstance(v, str)),
    "metadata.timestamp": st.just("") | _NOT_AN_OBJECT.filter(lambda v: not isinstance(v, str)),
    "event": st.one_of(
        st.builds(lambda name, control: name + control, valid_events,
                  st.sampled_from(["\n", "\x00", "\u202e", "\u2028", "\x7f"])),
        safe_scalars.filter(lambda value: not isinstance(value, str)),
        st.just(""),
        st.sampled_from(sorted(RESERVED_EVENTS)),
        st.just("e" * (MAX_EVENT_NAME_LENGTH + 1)),
    ),
    "body": safe_scalars | st.lists(safe_values, max_size=3),
    "rooms": safe_scalars | st.dictionaries(safe_text, safe_scalars, max_size=2),
    "room": st.one_of(
        near_miss_rooms,
        st.sampled_from(["", "user", "user:", "admins", "user:a b", "user::1", "User:1",
                         "department:\u3000x", "user:" + "x" * 257]),
        safe_text.filter(lambda text: not _contract_room(text)),
        safe_scalars,
        st.lists(st.just("user:1"), max_size=1),
    ),
    "unencodable": st.one_of(
        st.sampled_from(["\ud800", "a\udfffb", UINT64_MAX + 1, INT64_MIN - 1, 10**400]),
        st.integers(256, 2_000).map(nested),
    ),
}
_ROOM_SPOILING = st.integers(0, 5)  # 0..2: one bad entry among good ones
_POSITIONS = st.integers(0, 6)
_TOO_LARGE = st.integers(MAX_PAYLOAD_BYTES, 100_000)


def _bad_rooms(draw: st.DrawFn, rooms: list[str]) -> tuple[Any, str]:
    how = draw(_ROOM_SPOILING)
    if how == 3:
        return draw(_WRONG["rooms"]), "rooms "
    if how == 4:
        return [], "rooms "
    if how == 5:
        return [f"user:{n}" for n in range(1_001)], "rooms "
    index = min(draw(_POSITIONS), len(rooms))
    return [*rooms[:index], draw(_WRONG["room"]), *rooms[index:]], f"rooms[{index}] "


def _spoiled(
    draw: st.DrawFn, field: str, event: str, body: dict[str, Any]
) -> tuple[Any, Any, str]:
    """The job with only `field` made wrong, and the message prefix that must name it."""
    if field == "event":
        return draw(_WRONG["event"]), body, "job name "
    if field == "body":
        return event, draw(_WRONG["body"]), "job data must be a JSON object"
    if field.startswith("missing "):
        name = field.removeprefix("missing ")
        del body[name]
        return event, body, f"{name} "
    if field == "too large":
        body["data"] = {"blob": "x" * draw(_TOO_LARGE)}
        return event, body, "job data is "
    if field == "unencodable":
        body["data"] = {"x": draw(_WRONG["unencodable"])}
        return event, body, "job data cannot be encoded as JSON"
    if field == "rooms":
        body["rooms"], prefix = _bad_rooms(draw, body["rooms"])
        return event, body, prefix
    if field.startswith("metadata."):
        body["metadata"] = dict(body.get("metadata") or {})
        body["metadata"][field.split(".", 1)[1]] = draw(_WRONG[field])
        return event, body, f"{field} "
    body[field] = draw(_WRONG[field])
    return event, body, "namespace" if field == "namespace" else f"{field} "


SPOILABLE = (
    "event", "body", "namespace", "rooms", "id", "data", "metadata", "metadata.trace_id",
    "metadata.timestamp", "missing namespace", "missing rooms", "missing id", "too large",
    "unencodable",
)


@st.composite
def jobs_with_one_bad_field(draw: st.DrawFn) -> list[tuple[Any, Any, int, str]]:
    """One valid job, spoiled in each field in turn: every field gets every example."""
    event, body, created_ms = draw(valid_jobs())
    spoiled = []
    for field in SPOILABLE:
        copy_of_body = {**body, "rooms": list(body["rooms"])}
        bad_event, bad_body, prefix = _spoiled(draw, field, event, copy_of_body)
        spoiled.append((bad_event, bad_body, created_ms, prefix))
    return spoiled


def test_one_bad_field_is_rejected_by_name() -> None:
    def check(cases: list[tuple[Any, Any, int, str]]) -> None:
        for event, body, created_ms, prefix in cases:
            with pytest.raises(InvalidNotification) as rejected:
                decode(event, body, created_ms)
            assert_rejection_is_clean(rejected.value)
            assert str(rejected.value).startswith("invalid notification: " + prefix), (
                f"{str(rejected.value)!r} does not name {prefix!r}"
            )

    run_property("decode: one bad field", jobs_with_one_bad_field(), check)


# --- Findings, now fixed: regression tests (see FINDINGS) ---

FINDINGS = "docs/fuzz-findings.md"
VALID_BODY = {"namespace": "/data_owner", "rooms": ["user:1"], "id": "r-1"}


@pytest.mark.parametrize("namespace", [["/data_owner"], {"name": "/data_owner"}, []])
def test_namespace_of_any_json_type_is_rejected_by_name(namespace: Any) -> None:
    with pytest.raises(InvalidNotification, match=r"^invalid notification: namespace "):
        decode("records:updated", {**VALID_BODY, "namespace": namespace}, 1_800_000_000_000)


@pytest.mark.parametrize(
    "created_ms", [LAST_CREATED_MS + 1, 10**17, 2**63, -(2**63), -62_135_596_800_001]
)
def test_creation_time_out_of_range_is_rejected(created_ms: int) -> None:
    """A producer sets the job's creation time itself (BullMQ's `timestamp` option)."""
    with pytest.raises(InvalidNotification, match=r"^invalid notification: "):
        decode("records:updated", dict(VALID_BODY), created_ms)


@pytest.mark.parametrize("room", ["user:1\n", "department:A\n"])
def test_room_with_a_trailing_newline_is_rejected(room: str) -> None:
    """`$` also matches before a final newline: such a room names no socket's room, so
    the notification is silently delivered to nobody."""
    with pytest.raises(InvalidNotification, match=r"^invalid notification: rooms\[0\] "):
        decode("records:updated", {**VALID_BODY, "rooms": [room]}, 1_800_000_000_000)
