"""orjson behind the `dumps`/`loads` interface python-socketio and engineio expect."""

from typing import Any

import orjson


def dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(text: str | bytes, **_: Any) -> Any:
    return orjson.loads(text)
