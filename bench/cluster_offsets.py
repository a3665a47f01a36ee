"""What a per-socket offset costs a broadcast (docs/cluster.md, "A position per room in
the offset"): on a cluster a socket's position is one offset per room, so a department
notification's frame differs per recipient (its user-room position), where today one
frame is built for all. Measured here without sockets: the broadcast fast path's own
per-recipient step (a dict lookup and appending the shared frame to the socket's corked
bytes) against the same step plus updating the socket's room position, formatting its
offset vector and building its frame (`gateway.transport.fastpath.text_frame`).

Usage: python bench/cluster_offsets.py [--recipients 1000] [--payload 200] [--rounds 200]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.transport.fastpath import text_frame


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--payload", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    sids = [f"sid-{n:06d}" for n in range(args.recipients)]
    head = '42/data_owner,["records:updated",{"id":"r-1","data":"' + "x" * args.payload + '"}'
    offset = "1796114373701-12"
    # Per socket: its rooms' positions, user room first, then its department.
    positions = {sid: [f"1796114373{n % 1000:03d}-0", "1796114373000-3"] for n, sid in
                 enumerate(sids)}
    shared = text_frame(f'{head},"{offset}"]'.encode())

    corked: dict[str, bytes] = {}
    start = time.perf_counter()
    for _ in range(args.rounds):
        for sid in sids:
            corked[sid] = corked.get(sid, b"") + shared
        corked.clear()
    shared_us = (time.perf_counter() - start) / (args.rounds * len(sids)) * 1e6

    start = time.perf_counter()
    for _ in range(args.rounds):
        for sid in sids:
            vector = positions[sid]
            vector[1] = offset  # the department room's position moves
            frame = text_frame(f'{head},"{vector[0]}.{vector[1]}"]'.encode())
            corked[sid] = corked.get(sid, b"") + frame
        corked.clear()
    vector_us = (time.perf_counter() - start) / (args.rounds * len(sids)) * 1e6
    print(f"{args.recipients} recipients, {len(shared)}-byte frame: shared frame "
          f"{shared_us:.2f} us per recipient, per-socket offset vector {vector_us:.2f} us "
          f"(+{vector_us - shared_us:.2f} us)")


if __name__ == "__main__":
    main()
