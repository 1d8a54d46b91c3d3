"""``shared_state.backend: redis``: buckets, revocations and breaker trips in one Redis server.

- **Admission** is one Lua script per request (one round trip): is the key's digest revoked,
  is its token bucket positive, take one from its request bucket. The buckets are the same
  token buckets as ``ratelimit.TokenBucket``, kept as Redis hashes and refilled with Redis'
  own clock, so N replicas together allow the configured rate, whatever their clocks say.
- **Token charges** (known only after an answer, on the trace writer's thread) are sent in
  the background on the gateway's event loop; they never block a request.
- **Revocations** live in a Redis set. Each replica mirrors it into its ``Revocations`` (read
  at connect, then kept current by pub/sub) so paths that authenticate without a round trip
  (the dashboard) refuse revoked keys too; the admission script reads the set itself.
- **Breaker trips**: a breaker opening on one replica is published with its reset time and
  the other replicas open theirs on the same upstream URL (``share_breakers``).

Redis unreachable (refused, or no answer within ``timeout``): the call raises
``SharedStateDownError`` and Redis is left alone for ``retry_after`` seconds (one probe then);
``RateLimiter.admit`` applies ``when_unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from llmops.gateway.breaker import CircuitBreaker
from llmops.gateway.shared_state import REVOKED, SharedStateDownError

if TYPE_CHECKING:
    from llmops.gateway.auth import ApiKey
    from llmops.gateway.config import KeyRateLimit, SharedStateConfig
    from llmops.gateway.revocations import Revocations
    from llmops.gateway.upstream import Pool

__all__ = ["RedisState"]

log = logging.getLogger("llmops.gateway.shared")

# Buckets: hash {l: level, s: stamp in seconds}. A missing bucket is full. ARGV[n] == "" means
# "use Redis' clock" (production); tests pass their own clock.
_BUCKET_LUA = """
local function now_from(arg)
  local n = tonumber(arg)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function level(key, rate, cap, now)
  local v = redis.call('HMGET', key, 'l', 's')
  local l = tonumber(v[1])
  if not l then return cap end
  return math.min(cap, l + math.max(0, now - tonumber(v[2])) * rate)
end
local function store(key, l, rate, cap, now)
  redis.call('HSET', key, 'l', tostring(l), 's', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((cap - l) / rate * 1000) + 1000)
end
"""

# KEYS: revoked set, request bucket, token bucket.
# ARGV: digest ("" = none), request rate/s, request capacity (0 = none), token rate/s,
#       token capacity (0 = none), now.  Returns "-1" revoked, "0" admitted, else the wait.
_ADMIT_LUA = (
    _BUCKET_LUA
    + """
if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return '-1' end
local rcap, tcap = tonumber(ARGV[3]), tonumber(ARGV[5])
if rcap == 0 and tcap == 0 then return '0' end
local now = now_from(ARGV[6])
if tcap > 0 then
  local trate = tonumber(ARGV[4])
  local l = level(KEYS[3], trate, tcap, now)
  if l <= 0 then return tostring((1e-9 - l) / trate) end
end
if rcap > 0 then
  local rrate = tonumber(ARGV[2])
  local l = level(KEYS[2], rrate, rcap, now)
  if l < 1 then return tostring((1 - l) / rrate) end
  store(KEYS[2], l - 1, rrate, rcap, now)
end
return '0'
"""
)

# KEYS: token bucket. ARGV: rate/s, capacity, tokens, now.
_CHARGE_LUA = (
    _BUCKET_LUA
    + """
local now = now_from(ARGV[4])
local rate, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
store(KEYS[1], level(KEYS[1], rate, cap, now) - tonumber(ARGV[3]), rate, cap, now)
return 0
"""
)

_ATTACH_INTERVAL = 1.0  # seconds between looks for replicas that joined a pool (discovery)
_MAX_CONNECTIONS = 64  # per replica; requests beyond wait for one (up to ``timeout``)
_CHARGE_DELAY = 0.02  # token charges arriving within this are sent as one pipeline


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisState:
    """The ``SharedState`` of every replica pointed at one Redis."""

    backend = "redis"

    def __init__(
        self,
        config: SharedStateConfig,
        revocations: Revocations,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.revocations = revocations
        self._clock = clock
        prefix = config.prefix
        self._revoked_key = f"{prefix}revoked"
        self._channel = f"{prefix}events"
        self._breaker_prefix = f"{prefix}breaker:"
        self._bucket_prefix = f"{prefix}rl:"
        self._id = secrets.token_hex(8)  # this replica, to skip its own breaker messages
        self._down = CircuitBreaker(1, config.retry_after)
        self._client: Any = None
        self._admit: Any = None
        self._charge: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sending: set[asyncio.Task[Any]] = set()  # charges and trips on their way
        # (key id, tokens per minute) -> tokens not yet sent; filled from any thread.
        self._charges: dict[tuple[str, float], int] = {}
        self._charges_lock = threading.Lock()
        self._batch: list[tuple[list[str], asyncio.Future[Any]]] = []  # admissions this turn
        self._pools: list[Pool] = []
        self.mirroring = False
        self.dropped_tokens = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def _connect(self, *, listener: bool) -> Any:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        password = os.environ.get(self.config.password_env) if self.config.password_env else None
        options: dict[str, Any] = {
            "password": password or None,
            "socket_connect_timeout": self.config.timeout,
            # The listener waits for messages as long as it must; calls wait ``timeout``.
            "socket_timeout": None if listener else self.config.timeout,
            "socket_keepalive": True,
            "retry": Retry(NoBackoff(), 0),  # no hidden retries: a failure is a failure
            "health_check_interval": 30 if listener else 0,
        }
        if listener:
            return aioredis.Redis.from_url(self.config.url or "", **options)
        # A bounded pool that makes callers wait (up to ``timeout``) for a free connection,
        # instead of failing with "Too many connections" under a burst.
        pool = aioredis.BlockingConnectionPool.from_url(
            self.config.url or "",
            max_connections=_MAX_CONNECTIONS,
            timeout=self.config.timeout,
            **options,
        )
        return aioredis.Redis(connection_pool=pool)

    async def start(self) -> None:
        """Connect (lazily: an unreachable Redis does not stop the gateway) and mirror."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._client = self._connect(listener=False)
        self._admit = self._client.register_script(_ADMIT_LUA)
        self._charge = self._client.register_script(_CHARGE_LUA)
        self._spawn(self._listen())
        if self.config.share_breakers:
            self._spawn(self._attach_loop())

    async def flush(self, timeout: float = 2.0) -> None:
        """Wait (up to ``timeout``) for the charges and trips sent so far to reach Redis."""
        await asyncio.sleep(0)  # one loop turn starts the sends call_soon_threadsafe scheduled
        if self._sending:
            await asyncio.wait(list(self._sending), timeout=timeout)

    async def close(self) -> None:
        """Send what is on its way, cancel the background tasks and close the connections."""
        await self.flush()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    # -- calls with the down-breaker around them -------------------------------------------

    async def _call(self, fn: Callable[[], Any]) -> Any:
        from redis import exceptions as rexc

        if self._client is None or not self._down.can_try():
            raise SharedStateDownError("shared state unreachable (waiting to retry)")
        self._down.acquire()
        try:
            async with asyncio.timeout(self.config.timeout):
                result = await fn()
        except (
            rexc.ConnectionError,
            rexc.TimeoutError,
            rexc.ReadOnlyError,
            OSError,
            TimeoutError,
        ) as exc:
            if self._down.state != "open":
                log.warning("shared state %s unreachable: %r", self.where, exc)
            self._down.failure()
            raise SharedStateDownError(f"shared state unreachable: {exc!r}") from None
        self._down.success()
        return result

    @property
    def where(self) -> str:
        """Return the Redis URL without its password."""
        return _redacted(self.config.url or "")

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    # -- admission and charges -----------------------------------------------------------------

    async def admit(self, key: ApiKey, limit: KeyRateLimit | None) -> float:
        """Return 0 to admit, the Retry-After seconds, or REVOKED (one script, batched)."""
        rpm = limit.requests_per_minute if limit else None
        tpm = limit.tokens_per_minute if limit else None
        burst = limit.burst if limit else None
        args = [
            key.sha256 or "",
            repr(rpm / 60.0) if rpm else "0",
            repr(burst or rpm) if rpm else "0",
            repr(tpm / 60.0) if tpm else "0",
            repr(tpm) if tpm else "0",
            self._now(),
        ]
        keys = [
            self._revoked_key,
            f"{self._bucket_prefix}req:{key.id}",
            f"{self._bucket_prefix}tok:{key.id}",
        ]
        raw = await self._queued(["EVALSHA", self._admit.sha, "3", *keys, *args])
        wait = float(raw)
        if wait == REVOKED and key.sha256:
            self.revocations.add(key.sha256)
        return wait

    def _queued(self, command: list[str]) -> asyncio.Future[Any]:
        """Send ``command`` with the others issued in this turn of the loop: one pipeline.

        Under load many requests ask at once; one write and one read for all of them costs a
        fraction of a round trip each (the socket calls dominate a Redis call's CPU)."""
        if self._loop is None or self._client is None or not self._down.can_try():
            raise SharedStateDownError("shared state unreachable (waiting to retry)")
        future = self._loop.create_future()
        self._batch.append((command, future))
        if len(self._batch) == 1:
            self._loop.call_soon(self._flush_batch)
        return future

    def _flush_batch(self) -> None:
        batch, self._batch = self._batch, []
        self._send(self._run_batch(batch))

    async def _run_batch(self, batch: list[tuple[list[str], asyncio.Future[Any]]]) -> None:
        from redis.exceptions import NoScriptError

        async def run() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for command, _ in batch:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))

        try:
            results = await self._call(run)
            if any(isinstance(r, NoScriptError) for r in results):
                # A Redis that restarted has forgotten the script: load it, send again.
                await self._call(lambda: self._client.script_load(_ADMIT_LUA))
                results = await self._call(run)
        except SharedStateDownError as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(SharedStateDownError(str(exc)))
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    def charge_tokens(self, key_id: str, limit: KeyRateLimit, tokens: int) -> None:
        """Debit tokens in the background (callable from any thread); close charges batch."""
        loop = self._loop
        if not limit.tokens_per_minute or not tokens or loop is None or loop.is_closed():
            return
        slot = (key_id, limit.tokens_per_minute)
        with self._charges_lock:
            first = not self._charges
            self._charges[slot] = self._charges.get(slot, 0) + tokens
        if first:
            try:
                loop.call_soon_threadsafe(self._send, self._send_charges())
            except RuntimeError:  # the loop closed between the check and the call
                self.dropped_tokens += tokens

    async def _send_charges(self) -> None:
        await asyncio.sleep(_CHARGE_DELAY)
        with self._charges_lock:
            batch, self._charges = self._charges, {}
        if not batch:
            return

        async def run() -> Any:
            pipe = self._client.pipeline(transaction=False)
            for (key_id, tpm), tokens in batch.items():
                keys = [f"{self._bucket_prefix}tok:{key_id}"]
                args = [repr(tpm / 60.0), repr(tpm), str(tokens), self._now()]
                await self._charge(keys=keys, args=args, client=pipe)
            return await pipe.execute()

        try:
            await self._call(run)
        except SharedStateDownError:
            self.dropped_tokens += sum(batch.values())

    # -- revocations ---------------------------------------------------------------------------

    async def revoke(self, digest: str) -> None:
        """Add ``digest`` to the shared set and tell every replica."""
        await self._change("sadd", digest)
        self.revocations.add(digest)

    async def restore(self, digest: str) -> None:
        """Remove ``digest`` from the shared set and tell every replica."""
        await self._change("srem", digest)
        self.revocations.discard(digest)

    async def _change(self, op: str, digest: str) -> None:
        message = orjson.dumps({"from": self._id, "op": op, "digest": digest})

        async def run() -> Any:
            pipe = self._client.pipeline(transaction=True)
            getattr(pipe, op)(self._revoked_key, digest)
            pipe.publish(self._channel, message)
            return await pipe.execute()

        await self._call(run)

    # -- breakers ------------------------------------------------------------------------------

    def watch(self, pools: Iterable[Pool]) -> None:
        """Share the breakers of these pools' HTTP replicas (replaces what was watched)."""
        self._pools = [p for p in pools if p.is_http]
        if self.config.share_breakers:
            self._attach()

    def _attach(self) -> None:
        for pool in self._pools:
            for rep in pool.replicas:
                if self._publish_trip not in rep.breaker.on_open:
                    rep.breaker.on_open.append(self._publish_trip)

    async def _attach_loop(self) -> None:
        while True:
            await asyncio.sleep(_ATTACH_INTERVAL)
            self._attach()

    def _url_of(self, breaker: CircuitBreaker) -> str | None:
        for pool in self._pools:
            for rep in pool.replicas:
                if rep.breaker is breaker:
                    return str(rep.base_url)
        return None

    def _publish_trip(self, breaker: CircuitBreaker) -> None:
        url = self._url_of(breaker)
        if url is None or self._loop is None:
            return
        seconds = breaker.reset_after
        message = orjson.dumps({"from": self._id, "op": "trip", "url": url, "seconds": seconds})

        async def run() -> Any:
            pipe = self._client.pipeline(transaction=False)
            pipe.set(self._breaker_prefix + url, b"1", px=max(1, int(seconds * 1000)))
            pipe.publish(self._channel, message)
            return await pipe.execute()

        async def send() -> None:
            try:
                await self._call(run)
            except SharedStateDownError:
                pass  # the trip stays local; peers find out from their own failures

        self._loop.call_soon_threadsafe(self._send, send())

    def _trip(self, url: str, seconds: float) -> None:
        for pool in self._pools:
            for rep in pool.replicas:
                if rep.base_url == url:
                    rep.breaker.trip(seconds)

    # -- the mirror ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        while True:
            client = self._connect(listener=True)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                await self._resync(client)
                self.mirroring = True
                async for message in pubsub.listen():
                    if message and message.get("type") == "message":
                        self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.mirroring:
                    log.warning("shared state %s: mirror lost: %s", self.where, exc)
            finally:
                self.mirroring = False
                await pubsub.aclose()
                await client.aclose()
            await asyncio.sleep(self.config.retry_after)

    async def _resync(self, client: Any) -> None:
        """Read the whole revoked set and the open breakers (after every (re)connect)."""
        async with asyncio.timeout(self.config.timeout * 4):
            members = await client.smembers(self._revoked_key)
            self.revocations.replace(m.decode() for m in members)
            if not self.config.share_breakers:
                return
            async for name in client.scan_iter(match=self._breaker_prefix + "*", count=500):
                ttl = await client.pttl(name)
                if ttl > 0:
                    self._trip(name.decode()[len(self._breaker_prefix) :], ttl / 1000.0)

    def _on_message(self, data: bytes) -> None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict) or event.get("from") == self._id:
            return
        op = event.get("op")
        if op == "sadd":
            self.revocations.add(str(event["digest"]))
        elif op == "srem":
            self.revocations.discard(str(event["digest"]))
        elif op == "trip" and self.config.share_breakers:
            self._trip(str(event["url"]), float(event["seconds"]))

    def status(self) -> dict[str, Any]:
        """Return the backend, where it is, whether it answers and what is mirrored."""
        return {
            "backend": self.backend,
            "url": self.where,
            "reachable": self._down.state == "closed",
            "mirroring": self.mirroring,
            "when_unavailable": self.config.when_unavailable,
            "revoked_keys": len(self.revocations),
            "dropped_tokens": self.dropped_tokens,
            "share_breakers": self.config.share_breakers,
        }
