"""roomcast on one Redis (standalone, or Sentinel's master): sharded pub/sub works on a
non-cluster Redis 7, every slot is that server's, and its one connection receives the
room channels in the order the server executed the publishes, so a single offset
sequence stays exact there."""

import asyncio

from redis.asyncio import Redis

from roomcast import RoomSubscriber, SlotMap, room_channel
from tests.cluster.test_room_subscriber import Recorder
from tests.support.redis_proc import RedisProcess

PUBLISH_TO_ROOMS = """
for i, channel in ipairs(ARGV) do
  if i > 1 then redis.call('SPUBLISH', channel, ARGV[1]) end
end
"""


async def test_one_redis_delivers_every_room_channel_in_execution_order(
    redis_url: str, redis_proc: RedisProcess
) -> None:
    address = ("127.0.0.1", redis_proc.port)
    recorder = Recorder()

    async def one_server(known: list[tuple[str, int]]) -> SlotMap:
        return SlotMap.single(address)

    subscriber = RoomSubscriber([address], recorder.message, map_source=one_server)
    subscriber.start()
    rooms = [room_channel("bull", "/data_owner", f"user:{n}") for n in range(20)]
    client = Redis.from_url(redis_url)
    try:
        subscriber.add(rooms)
        async with asyncio.timeout(10):
            await subscriber.wait_established(rooms)
        assert subscriber.commands_sent == len(rooms)  # one per slot, in one write
        for n in range(100):
            await client.eval(PUBLISH_TO_ROOMS, 0, b"%d" % n, rooms[n % 20], rooms[(n * 7) % 20])
        await recorder.until(lambda: len(recorder.messages) == 200)
    finally:
        await client.aclose()
        await subscriber.close()
    # Both copies of each notification, back to back, in the order they were published.
    assert recorder.data() == [b"%d" % (n // 2) for n in range(200)]
