"""Redis key names of the throttle; the only place they are spelled."""

import hashlib


def throttle_key_prefix(prefix: str) -> str:
    return f"{prefix}:throttle:"


def throttle_key(prefix: str, namespace: str, event: str, resource_id: str | int) -> str:
    """One hash per (namespace, event, id); the id's type is part of it, so "1" and 1
    are different resources. A hash-tagged prefix such as `{app-main}` keeps the key in
    the slot of the queues on Redis Cluster."""
    kind = type(resource_id).__name__
    return f"{throttle_key_prefix(prefix)}{namespace}:{event}:{kind}:{resource_id}"


def trailing_job_id(key: str, window_end_ms: int) -> str:
    """Deterministic BullMQ job id of a key's trailing emit for one window, so however
    many pods schedule it, exactly one job exists (BullMQ ignores a duplicate id).
    BullMQ refuses ':' and all-digit custom ids, hence the digest."""
    digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return f"throttle-{digest}-{window_end_ms}"
