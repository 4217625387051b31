"""uWSGI's harakiri, armed around the part of a request that computes.

Under uWSGI's gevent loop (uwsgi.ini) a worker holds several requests; while one waits for
its body, another may finish, and uWSGI then disarms the worker's harakiri timer, which
the waiting one had armed when it started. A request that then hangs in the model would
never be killed. `Harakiri` arms uWSGI's per-worker user harakiri (the configured
``harakiri`` seconds) for a section that never waits on a socket, so no other request
can run in between, and disarms it after.
"""

from __future__ import annotations

from types import TracebackType

try:
    import uwsgi  # exists only inside a uWSGI worker

    IN_UWSGI = True
except ImportError:
    IN_UWSGI = False


class Harakiri:
    """A context manager; does nothing outside uWSGI or when harakiri is off."""

    def __init__(self) -> None:
        self._seconds = _configured_seconds()

    def __enter__(self) -> None:
        if self._seconds:
            uwsgi.set_user_harakiri(self._seconds)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._seconds:
            uwsgi.set_user_harakiri(0)


def _configured_seconds() -> int:
    if not IN_UWSGI:
        return 0
    value = uwsgi.opt.get("harakiri", b"0")
    if isinstance(value, list):  # an option given more than once: the last one counts
        value = value[-1]
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except ValueError:
        return 0
