"""The merge of a recovering socket's replay with the live notifications that waited
meanwhile (gateway/realtime/delivery.py `merge_replay`): offset order, nothing twice, nothing
dropped, and the floor under which later live ones are skipped."""

from gateway.realtime.delivery import merge_replay
from notification_log import LogMessage, Offset


def message(ms: int, seq: int = 0) -> LogMessage:
    offset = Offset(ms, seq)
    return LogMessage(offset, str(offset), "/data_owner", ("user:1",), f'["ev",{ms}')


def offsets(messages: list[LogMessage]) -> list[Offset]:
    return [m.offset for m in messages]


def test_live_ones_the_replay_had_are_dropped_newer_ones_follow_in_order() -> None:
    replay = [message(10), message(11), message(12)]
    waiting = [message(11), message(12), message(13), message(14)]  # 11, 12 also replayed
    sent, floor = merge_replay(replay, waiting, Offset(12, 0))
    assert offsets(sent) == [Offset(10, 0), Offset(11, 0), Offset(12, 0), Offset(13, 0),
                             Offset(14, 0)]
    assert floor == Offset(14, 0)


def test_live_ones_up_to_the_logs_newest_offset_are_dropped_even_if_the_replay_had_none() -> (
    None
):
    # The log's newest offset (13) was another room's: a live 13 for this socket can't be,
    # but anything up to the floor was covered by the read.
    sent, floor = merge_replay([], [message(12), message(14)], Offset(13, 0))
    assert offsets(sent) == [Offset(14, 0)]
    assert floor == Offset(14, 0)


def test_a_failed_recovery_sends_what_waited_and_has_no_floor_of_its_own() -> None:
    sent, floor = merge_replay([], [message(20), message(21, 1)], None)
    assert offsets(sent) == [Offset(20, 0), Offset(21, 1)]
    assert floor == Offset(21, 1)


def test_nothing_at_all() -> None:
    assert merge_replay([], [], None) == ([], None)
    assert merge_replay([], [], Offset(5, 0)) == ([], Offset(5, 0))


def test_offsets_order_by_time_then_sequence() -> None:
    sent, _ = merge_replay([message(30, 2)], [message(30, 1), message(30, 3), message(31)],
                           Offset(30, 2))
    assert offsets(sent) == [Offset(30, 2), Offset(30, 3), Offset(31, 0)]
