"""`python -m archiver` as an operator meets it: one line and exit 2 for a bad setting,
`find`'s own usage errors, and a clear line when PostgreSQL is not there."""

import socket

import pytest

from tests.support.archiver import archiver_env, run_archiver
from tests.support.ports import free_port

UNREACHABLE_DB = f"postgresql://postgres@127.0.0.1:{free_port()}/none"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"ARCHIVE_DATABASE_URL": ""},
         "archiver: invalid setting ARCHIVE_DATABASE_URL: required (a postgresql:// URL)"),
        ({"ARCHIVE_BATCH": "many"},
         "archiver: invalid setting ARCHIVE_BATCH: expected a positive integer, got 'many'"),
        ({"ARCHIVE_DATABASE_URL": "redis://127.0.0.1/0"},
         "archiver: invalid setting ARCHIVE_DATABASE_URL: expected a postgresql:// URL"),
    ],
)
async def test_a_bad_setting_exits_2_with_one_line(overrides: dict[str, str], line: str) -> None:
    env = archiver_env("redis://127.0.0.1:1/0", UNREACHABLE_DB, **overrides)
    status, output = await run_archiver(env, "--once")
    assert (status, output) == (2, line + "\n")


async def test_a_metrics_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = archiver_env(
            "redis://127.0.0.1:1/0", UNREACHABLE_DB,
            ARCHIVE_METRICS_HOST="127.0.0.1", ARCHIVE_METRICS_PORT=str(taken.getsockname()[1]),
        )
        status, output = await run_archiver(env, "--once")
    assert status == 2
    assert output.splitlines()[-1].startswith("archiver: invalid setting ARCHIVE_METRICS_PORT:")


async def test_find_needs_a_filter_and_says_so() -> None:
    status, output = await run_archiver(archiver_env("redis://127.0.0.1:1/0", UNREACHABLE_DB),
                                        "find", "--json")
    assert status == 2
    assert "give at least one of --trace-id, --resource, --room, --since" in output


async def test_find_with_postgresql_away_says_so_in_one_line() -> None:
    env = archiver_env("redis://127.0.0.1:1/0", UNREACHABLE_DB)
    status, output = await run_archiver(env, "find", "--room", "user:42", "--since", "2d")
    assert status == 1
    assert output.startswith("archiver: cannot reach PostgreSQL:")
    assert len(output.splitlines()) == 1


async def test_find_before_anything_is_archived(database_url: str) -> None:
    env = archiver_env("redis://127.0.0.1:1/0", database_url)
    status, output = await run_archiver(env, "find", "--trace-id", "t-1")
    assert (status, output) == (
        1, "archiver: nothing archived yet (no notification_archive table)\n"
    )
