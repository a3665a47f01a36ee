"""The pod's sharded subscriptions: a channel is subscribed while something holds it (a
local socket in the room), on the master serving its slot, and kept subscribed across
failovers and slot migrations.

- `add`/`discard` only count holders and mark the channel; the changes of one loop
  iteration (a burst of connects and disconnects) go out together, one `SSUBSCRIBE` or
  `SUNSUBSCRIBE` per slot, every command for a master in one write. A channel added and
  discarded before that costs nothing; with `unsubscribe_delay`, one whose last holder
  left stays subscribed that long, so a reconnect storm does not unsubscribe and
  subscribe again.
- A channel is *established* once its master confirmed the subscription: from then on
  every message published on it reaches `on_message`, in its order. `on_established` is
  called with each batch of channels so confirmed, first or again after an interruption,
  before any later message of theirs: what was published before is not delivered here,
  so that is the moment to read it from the log (docs/cluster.md: no window).
- `on_interrupted` is called with the channels whose subscription was lost (the master's
  connection closed or stalled, the slot moved, the server unsubscribed them); they are
  subscribed again, on the slot's master as `CLUSTER SLOTS` then says, with a growing delay
  (0.1 s ... 0.5 s, the gateway's reconnect steps) while that fails.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence

from roomcast.channels import channel_slot
from roomcast.link import Address, LinkEvents, ShardLink
from roomcast.slot_map import ClusterUnavailable, SlotMap

logger = logging.getLogger(__name__)

RETRY_FIRST_DELAY = 0.1
RETRY_MAX_DELAY = 0.5

Channels = Callable[[list[bytes]], None]
# Where the slots are served now, given every master seen so far; the default asks the
# cluster (`CLUSTER SLOTS`); `SlotMap.single` for one Redis.
MapSource = Callable[[list[Address]], Awaitable[SlotMap]]


def _noop(channels: list[bytes]) -> None:
    return None


class RoomSubscriber(LinkEvents):
    def __init__(
        self,
        startup_nodes: Sequence[Address],
        on_message: Callable[[bytes, bytes], None],
        *,
        on_established: Channels = _noop,
        on_interrupted: Channels = _noop,
        on_released: Channels = _noop,
        password: str | None = None,
        connect_timeout: float = 2.0,
        ping_interval: float = 1.0,
        reply_timeout: float = 3.0,
        unsubscribe_delay: float = 0.0,
        map_source: MapSource | None = None,
    ) -> None:
        self._startup = list(startup_nodes)
        self._on_message = on_message
        self._on_established = on_established
        self._on_interrupted = on_interrupted
        self._on_released = on_released
        self._password = password
        self._timeout = connect_timeout
        self._ping_interval = ping_interval
        self._reply_timeout = reply_timeout
        self._closed = False
        self._map_source = map_source or self._cluster_slots
        self._unsubscribe_delay = unsubscribe_delay
        self._holders: dict[bytes, int] = {}
        self._lingering: dict[bytes, asyncio.TimerHandle] = {}
        # Where each channel's SSUBSCRIBE went (confirmed or not yet), and which are.
        self._on_link: dict[bytes, ShardLink] = {}
        self.established: set[bytes] = set()
        self._dirty: set[bytes] = set()
        self._links: dict[Address, ShardLink] = {}
        self._map: SlotMap | None = None
        self._stale_map = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[set[bytes], asyncio.Future[None]]] = []
        # Counters for tests, metrics and benchmarks.
        self.commands_sent = 0
        self.map_refreshes = 0

    # -- what the user holds ------------------------------------------------------------

    def start(self) -> None:
        """Begin keeping the subscriptions (in a task of the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="roomcast-subscriber")

    def add(self, channels: Iterable[str | bytes]) -> None:
        """One more holder of each channel; subscribed when it had none."""
        for channel in channels:
            name = channel.encode() if isinstance(channel, str) else channel
            count = self._holders.get(name, 0)
            self._holders[name] = count + 1
            if count == 0:
                timer = self._lingering.pop(name, None)
                if timer is not None:
                    timer.cancel()
                else:
                    self._mark(name)

    def discard(self, channels: Iterable[str | bytes]) -> None:
        """One holder fewer; unsubscribed when the last one left (after the delay)."""
        for channel in channels:
            name = channel.encode() if isinstance(channel, str) else channel
            count = self._holders.get(name, 0)
            if count > 1:
                self._holders[name] = count - 1
            elif count == 1:
                del self._holders[name]
                if self._unsubscribe_delay > 0:
                    self._lingering[name] = asyncio.get_running_loop().call_later(
                        self._unsubscribe_delay, self._linger_over, name
                    )
                else:
                    self._mark(name)
                    self._on_released([name])

    def _linger_over(self, name: bytes) -> None:
        self._lingering.pop(name, None)
        self._mark(name)
        self._on_released([name])

    def wanted(self, name: bytes) -> bool:
        return name in self._holders or name in self._lingering

    @property
    def channels(self) -> set[bytes]:
        """Every channel subscribed or to be (held, or lingering)."""
        return {*self._holders, *self._lingering}

    @property
    def all_established(self) -> bool:
        return all(name in self.established for name in self.channels)

    async def wait_established(self, channels: Iterable[str | bytes]) -> None:
        """Until each of `channels` is established (callers bound it with a timeout)."""
        names = {c.encode() if isinstance(c, str) else c for c in channels}
        missing = names - self.established
        if not missing:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (missing, future)
        self._waiters.append(entry)
        try:
            await future
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def barrier(self, channels: Iterable[str | bytes]) -> None:
        """Until every message published on `channels` before this call reached the
        server has been handed to `on_message`: a `PING` on each of their connections,
        answered after what the server sent before it. Raises OSError when a channel is
        not subscribed on a live connection (then wait for it to be established again)."""
        links = set()
        for channel in channels:
            name = channel.encode() if isinstance(channel, str) else channel
            link = self._on_link.get(name)
            if link is None or link.lost is not None or name not in self.established:
                raise OSError(f"{name!r} is not subscribed now")
            links.add(link)
        for link in links:
            await link.ping()

    def _mark(self, name: bytes) -> None:
        self._dirty.add(name)
        self._wake.set()

    # -- keeping the subscriptions --------------------------------------------------------

    async def _run(self) -> None:
        delay = RETRY_FIRST_DELAY
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                done = await self._sync()
            except ClusterUnavailable as error:
                logger.warning("cluster slot map unavailable: %s", error)
                done = False
            except Exception:
                logger.exception("room subscriptions: sync failed; retrying")
                done = False
            if done:
                delay = RETRY_FIRST_DELAY
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
                self._wake.set()

    async def _sync(self) -> bool:
        """Send what the dirty channels need; False if some must wait for a retry."""
        if not self._dirty:
            return True
        if self._map is None or self._stale_map:
            known = self._map.masters if self._map is not None else []
            self._map = await self._map_source(known)
            self._stale_map = False
            self.map_refreshes += 1
        dirty, self._dirty = self._dirty, set()
        subscribe, unsubscribe = self._plan(self._map, dirty)
        for subscribed, by_slot in unsubscribe.items():
            for names in by_slot.values():
                subscribed.sunsubscribe(names)
                self.commands_sent += 1
        for address, by_slot in subscribe.items():
            link = await self._link_to(address)
            if link is None:
                for names in by_slot.values():
                    self._dirty.update(names)
            else:
                self._subscribe(link, by_slot.values())
        return not self._dirty

    def _plan(self, slot_map: SlotMap, dirty: set[bytes]) -> tuple[
        dict[Address, dict[int, list[bytes]]], dict[ShardLink, dict[int, list[bytes]]]
    ]:
        """Group the changes by master and slot (one command per slot)."""
        subscribe: dict[Address, dict[int, list[bytes]]] = defaultdict(lambda: defaultdict(list))
        unsubscribe: dict[ShardLink, dict[int, list[bytes]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for name in dirty:
            link = self._on_link.get(name)
            slot = channel_slot(name)
            if self.wanted(name) and link is None:
                address = slot_map.master_for(slot)
                if address is None:
                    self._dirty.add(name)
                    self._stale_map = True
                else:
                    subscribe[address][slot].append(name)
            elif not self.wanted(name) and link is not None:
                del self._on_link[name]
                self.established.discard(name)
                if link.lost is None:
                    unsubscribe[link][slot].append(name)
        return subscribe, unsubscribe

    def _subscribe(self, link: ShardLink, groups: Iterable[list[bytes]]) -> None:
        for names in groups:
            # Held again while the link opened? Still wanted and unsent: send it.
            names = [n for n in names if self.wanted(n) and n not in self._on_link]
            if names:
                link.ssubscribe(names)
                self.commands_sent += 1
                for name in names:
                    self._on_link[name] = link

    async def _cluster_slots(self, known: list[Address]) -> SlotMap:
        return await SlotMap.fetch([*self._startup, *known], self._password, self._timeout)

    async def _link_to(self, address: Address) -> ShardLink | None:
        link = self._links.get(address)
        if link is not None and link.lost is None:
            return link
        try:
            link = await ShardLink.open(
                address,
                self,
                password=self._password,
                connect_timeout=self._timeout,
                ping_interval=self._ping_interval,
                reply_timeout=self._reply_timeout,
            )
        except OSError as error:
            logger.warning("cannot subscribe at %s:%d: %s", *address, error)
            self._stale_map = True
            return None
        if link.lost is not None:  # lost before this task resumed: its report found nothing
            self._stale_map = True
            return None
        self._links[address] = link
        return link

    # -- what the links report -----------------------------------------------------------

    def on_message(self, link: ShardLink, channel: bytes, data: bytes) -> None:
        if self._on_link.get(channel) is link:
            self._on_message(channel, data)

    def on_subscribed(self, link: ShardLink, channels: list[bytes]) -> None:
        confirmed = [name for name in channels if self._on_link.get(name) is link]
        if not confirmed:
            return
        self.established.update(confirmed)
        self._on_established(confirmed)
        if self._waiters:
            for missing, future in self._waiters:
                missing.difference_update(confirmed)
                if not missing and not future.done():
                    future.set_result(None)

    def on_server_unsubscribed(self, link: ShardLink, channel: bytes) -> None:
        """The slot moved away, or the master became a replica: subscribe where it is now."""
        if self._on_link.get(channel) is link:
            self._stale_map = True
            self._interrupt([channel])

    def on_refused(self, link: ShardLink, channels: Sequence[bytes], error: str) -> None:
        """MOVED, ASK, CLUSTERDOWN, TRYAGAIN: ask the cluster again, then retry."""
        logger.info("subscription refused by %s:%d: %s", *link.address, error)
        self._stale_map = True
        self._interrupt([name for name in channels if self._on_link.get(name) is link])

    def on_lost(self, link: ShardLink, reason: str) -> None:
        if self._closed:
            return
        if self._links.get(link.address) is link:
            del self._links[link.address]
        lost = [name for name, on in self._on_link.items() if on is link]
        if lost:
            logger.warning("room subscriptions at %s:%d lost: %s", *link.address, reason)
            self._stale_map = True
            self._interrupt(lost)

    def _interrupt(self, names: list[bytes]) -> None:
        if self._closed:
            return
        was = [name for name in names if name in self.established]
        for name in names:
            del self._on_link[name]
            self.established.discard(name)
            self._dirty.add(name)
        self._wake.set()
        if was:
            self._on_interrupted(was)

    async def close(self) -> None:
        """Stop and close every connection; idempotent."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for timer in self._lingering.values():
            timer.cancel()
        self._lingering.clear()
        for link in list(self._links.values()):
            link.close("subscriber closed")
        self._links.clear()
        self._on_link.clear()
        self.established.clear()
