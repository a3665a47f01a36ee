"""The seam register: every place where the project depends on non-public code of
python-engineio, python-socketio, aiohttp, redis-py or bullmq (`register.SEAMS`).

Each entry names our module, the upstream piece (by qualified name), how we depend on it
(`Kind`: override, copy, replace, own, rely), why, what breaks if it changes, and the
SHA-256 of the upstream source it was audited against. tests/seams/ pins every entry to
the installed source and checks that no module outside the register touches a library's
private names; `python -m seams` prints what to re-audit after an upgrade
(docs/architecture.md, "Seams").

Imports only the standard library. The libraries and our own modules are looked up by
name when checked; nothing in the project imports this package at run time.
"""

from seams.entry import Kind, Seam
from seams.register import SEAMS

__all__ = ["SEAMS", "Kind", "Seam"]
