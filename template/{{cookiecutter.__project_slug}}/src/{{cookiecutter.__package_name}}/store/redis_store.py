"""Predictions in Redis: written in pipelines by batch scoring, read in one round trip by the API.

Each value is the JSON of one answer, ``{"prediction": ..., "probabilities": {...}}``
(probabilities for classifiers only), under the keys of `keys`. The client is the
``redis`` package (the project's ``store`` extra), imported only here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

SCHEMES = ("redis", "rediss", "unix")


class StoreError(ValueError):
    """A store URL that cannot be used, or a store that cannot be reached."""


def check_url(url: str) -> str:
    """``url`` if it names a Redis server (``redis://HOST:PORT/DB``), else `StoreError`."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not (parts.hostname or parts.path):
        raise StoreError(
            f"{url!r} is not a Redis URL: use redis://HOST:PORT/DB (or rediss://, unix://)"
        )
    return url


def encode(prediction: Any, probabilities: dict[str, float] | None) -> bytes:
    """One stored answer."""
    value: dict[str, Any] = {"prediction": prediction}
    if probabilities is not None:
        value["probabilities"] = probabilities
    return orjson.dumps(value)


def decode(value: bytes) -> dict[str, Any]:
    """A stored answer; `ValueError` when it is not one."""
    answer = orjson.loads(value)
    if not isinstance(answer, dict) or "prediction" not in answer:
        raise ValueError("not a stored prediction")
    return answer


class RedisStore:
    """A Redis server holding predictions.

    ``timeout`` bounds connecting and every read or write, in seconds; nothing is
    retried (the API answers from the model instead, at once).
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url = check_url(url)  # a wrong URL is the first thing to say, client or not
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise StoreError(
                "storing predictions needs the redis client: install the project's store "
                "extra (pip install -e '.[store]')"
            ) from None
        self.errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )

    def ping(self) -> None:
        """`StoreError` unless the server answers."""
        try:
            self._client.ping()
        except self.errors as exc:
            raise StoreError(f"{self.url}: no answer ({exc})") from None

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of ``keys`` (None where absent), in one round trip (MGET)."""
        if not keys:
            return []
        # the client is made without decode_responses: values come back as bytes
        values = self._client.mget(keys)
        return [v.encode() if isinstance(v, str) else v for v in values]

    def put_many(self, items: Iterable[tuple[str, bytes]], ttl: int | None = None) -> int:
        """Set every key to its value, expiring after ``ttl`` seconds (never when None),
        in one pipelined round trip; the number of keys set."""
        pipeline = self._client.pipeline(transaction=False)
        count = 0
        for key, value in items:
            pipeline.set(key, value, ex=ttl)
            count += 1
        if count:
            pipeline.execute()
        return count

    def close(self) -> None:
        self._client.close()
