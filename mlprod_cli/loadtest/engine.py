"""Locust as a library: the user that calls the model, and the local, master and worker runs.

Importing this module imports Locust, which monkey-patches the standard library
through gevent. Only the load-test command imports it, first thing in its run.

Closed loop (`--users N`): each user sends its next request as soon as the previous
one returns. Open loop (`--rate R`): each of the N users has its own schedule of
intended send times, R/N a second from a random phase (wrk2's scheme); a response
time is measured from the intended time, so a server that stalls is charged for every
request that should have gone out meanwhile (coordinated omission corrected).

With worker processes, the master tells each worker the plan when starting it;
each worker records into its own `Recorder` and sends what it has every second, and
once more when it stops, before Locust's own "client_stopped" message: the master's
`stop()` returns only after every worker's last figures have arrived.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from http.client import HTTPException
from typing import IO, Any, ClassVar

import gevent
import psutil
from gevent import GreenletExit
from locust import User, constant, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from mlprod_cli.errors import UserError
from mlprod_cli.loadtest.recording import Aggregate, Recorder
from mlprod_cli.loadtest.wire import Answer, Connection, Target

PREDICT_PATH = "/v1/predict"
REQUEST_TIMEOUT = 30.0
"""uWSGI's harakiri in the generated project: a request is not kept longer."""
REPORT_INTERVAL = 1.0
WORKER_CONNECT_TIMEOUT = 60.0
"""How long mlprod waits for the worker processes it starts itself."""
MASTER_WAIT_TIMEOUT = 600.0
"""How long `--master` waits for workers started by hand on other machines."""
WORKER_EXIT_TIMEOUT = 15.0

PLAN_MESSAGE = "mlprod_start"
READY_MESSAGE = "mlprod_ready"
REPORT_MESSAGE = "mlprod_report"


@dataclass(frozen=True)
class Plan:
    """What every load process needs to know; travels to workers as plain data."""

    url: str
    users: int
    rate: float | None
    keep_alive: bool
    bodies: tuple[str, ...]

    def message(self, elapsed: float) -> dict[str, Any]:
        return {**asdict(self), "bodies": list(self.bodies), "elapsed": elapsed}

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> tuple[Plan, float]:
        plan = cls(
            url=str(data["url"]),
            users=int(data["users"]),
            rate=None if data["rate"] is None else float(data["rate"]),
            keep_alive=bool(data["keep_alive"]),
            bodies=tuple(str(body) for body in data["bodies"]),
        )
        return plan, float(data["elapsed"])


@dataclass(frozen=True)
class Tick:
    """One line of live progress: a recent second of the run."""

    elapsed: int
    total: int
    point_second: int
    measured: bool
    requests: int
    errors: int
    p50: float | None
    p99: float | None
    cpu: dict[str, float]


class PredictUser(User):
    """POSTs the plan's bodies to /v1/predict, in turn from a random start, and records each.

    The clock starts when the request is sent (closed loop) or was due (open loop) and
    stops when the answer's last bytes are read, as wrk's does: each user opens its
    next connection before then, as soon as its previous answer is in. The HTTP is
    `wire`'s: why not Locust's FastHttpUser or geventhttpclient's client is said there.
    """

    host = "http://127.0.0.1"  # the runner sets the target's base URL
    wait_time = constant(0)

    plan: ClassVar[Plan | None] = None
    recorder: ClassVar[Recorder | None] = None

    def on_start(self) -> None:
        plan, recorder = type(self).plan, type(self).recorder
        if plan is None or recorder is None:
            raise StopUser()
        self._recorder = recorder
        self._keep_alive = plan.keep_alive
        self._target = Target(self.host, PREDICT_PATH, REQUEST_TIMEOUT)
        self._requests = [
            self._target.request(body.encode(), plan.keep_alive) for body in plan.bodies
        ]
        self._next = random.randrange(len(self._requests))
        self._finished: Connection | None = None
        self._connection = self._open_quietly()
        self._interval = plan.users / plan.rate if plan.rate else None
        if self._interval is not None:
            self._due = time.perf_counter() + random.uniform(0.0, self._interval)

    def on_stop(self) -> None:
        self._close_finished()
        connection = getattr(self, "_connection", None)
        if connection is not None:
            connection.close()

    @task
    def predict(self) -> None:
        """Request after request, until Locust stops the user by killing its greenlet.

        One task that loops rather than Locust's one request per task: between tasks,
        Locust goes round gevent's loop once more (a poll of the kernel, two switches),
        which at one connection showed as 5% fewer requests a second. Every wait for the
        server lets the other greenlets run; a request that never waited (a refused
        connection comes back at once) is followed by a yield, so none is starved.
        """
        while True:
            if not self._request():
                gevent.sleep(0)

    def _request(self) -> bool:
        """One request, recorded; whether it went round gevent's loop (it waited)."""
        intended = None
        if self._interval is not None:
            intended = self._due
            self._due += self._interval
            delay = intended - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
        request = self._requests[self._next]
        self._next = (self._next + 1) % len(self._requests)
        connection, self._connection = self._connection, None
        if connection is not None and connection.used and not connection.idle():
            connection.close()  # the server closed it meanwhile, or sent what was not asked
            connection = self._open_quietly()
        sent = time.perf_counter()
        start = sent if intended is None else intended  # latency counts from here
        try:
            error, connection, answer = self._post(connection, request)
        except GreenletExit:  # the run stopped while this request waited for its answer
            self._recorder.unfinished(time.perf_counter() - start)
            raise
        end = answer.arrived if answer is not None else time.perf_counter()
        service = None if intended is None else end - sent
        self._recorder.record(end, end - start, service, error)
        waited = connection is not None and connection.waited
        if answer is not None and answer.keep_alive and self._keep_alive:
            self._connection = connection
            return waited
        if connection is not None:
            if answer is not None and not answer.keep_alive:
                # The server closes it: our end can wait until the next request is sent.
                self._finished = connection
            else:
                # Now, before the next request: uWSGI's http11-socket ignores "Connection:
                # close" and would hold a worker on this connection for 4 s.
                connection.close()
        self._connection = self._open_quietly()
        return waited

    def _open_quietly(self) -> Connection | None:
        """A connection for the next request, or None: that request then tries on the clock."""
        try:
            return self._target.open()
        except (OSError, gevent.Timeout):
            return None

    def _close_finished(self) -> None:
        finished, self._finished = getattr(self, "_finished", None), None
        if finished is not None:
            finished.close()

    def _post(
        self, connection: Connection | None, request: bytes
    ) -> tuple[str | None, Connection | None, Answer | None]:
        """Send one request and read the whole answer: the error's kind or None, the
        connection used, and the answer (None if there was none).

        Without a connection opened beforehand (the last attempt failed), this one opens
        it, on the clock: a server that refuses connections is charged for it.
        """
        try:
            connection = connection or self._target.open()
        except (OSError, gevent.Timeout) as error:
            return error_kind(error), None, None
        try:
            answer = connection.exchange(request, meanwhile=self._close_finished)
        except (OSError, HTTPException, gevent.Timeout) as error:
            return error_kind(error), connection, None
        except BaseException:
            connection.close()
            raise
        return (f"HTTP {answer.status}" if answer.status >= 400 else None), connection, answer


def error_kind(error: BaseException) -> str:
    """`timeout`, or the exception's name: `ConnectionRefusedError`, `HTTPConnectionClosed`..."""
    if isinstance(error, (TimeoutError, socket.timeout, gevent.Timeout)):
        return "timeout"
    return type(error).__name__


def quiet_locust() -> None:
    """Locust logs its own CPU warnings and chatter; mlprod reports what matters itself.

    With `MLPROD_DEBUG=1`, Locust's log is shown in full instead.
    """
    if os.environ.get("MLPROD_DEBUG") == "1":
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    else:
        logging.getLogger("locust").setLevel(logging.ERROR)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _sample_cpu(recorder: Recorder) -> None:
    """Every second, this process's CPU use (% of one core) since the previous sample."""
    process = psutil.Process()
    process.cpu_percent()
    while True:
        gevent.sleep(REPORT_INTERVAL)
        recorder.sample_cpu(process.cpu_percent())


def run_local(
    plan: Plan, warmup: int, duration: int, progress: Callable[[Tick], None]
) -> Aggregate:
    """The whole load from this process: Locust's LocalRunner, one recorder."""
    quiet_locust()
    recorder = Recorder()
    aggregate = Aggregate()
    name = process_name()
    aggregate.join(name, plan.users)
    PredictUser.plan, PredictUser.recorder = plan, recorder
    environment = Environment(user_classes=[PredictUser], host=plan.url)
    runner: LocalRunner = environment.create_local_runner()
    sampler = gevent.spawn(_sample_cpu, recorder)
    try:
        recorder.start()
        runner.start(plan.users, spawn_rate=plan.users)
        for second in range(1, warmup + duration + 1):
            _sleep_until(recorder, second)
            aggregate.add(name, recorder.drain())
            progress(_tick(aggregate, second, second - 1, warmup, duration))
        runner.stop()
        aggregate.add(name, recorder.drain())
    finally:
        sampler.kill()
        runner.quit()
    return aggregate


def run_master(
    plan: Plan,
    warmup: int,
    duration: int,
    *,
    bind_host: str,
    port: int,
    local_workers: int,
    expect_workers: int,
    progress: Callable[[Tick], None],
    waiting: Callable[[int, int], None],
) -> Aggregate:
    """Locust's MasterRunner here; the load from `expect_workers` worker processes."""
    quiet_locust()
    aggregate = Aggregate()
    clock = Recorder()  # only its clock: the master sends no requests
    environment = Environment(user_classes=[PredictUser], host=plan.url)
    try:
        runner: MasterRunner = environment.create_master_runner(bind_host, port)
    except SystemExit:
        raise UserError(
            f"cannot listen for workers on port {port}: it is in use; pass another --master-port"
        ) from None
    ready: set[str] = set()

    def on_ready(environment: Environment, msg: Any, **_: Any) -> None:
        ready.add(msg.node_id)
        if clock.started:  # a worker that joins late starts at once, on the run's clock
            runner.send_message(PLAN_MESSAGE, plan.message(clock.elapsed()), msg.node_id)

    def on_report(environment: Environment, msg: Any, **_: Any) -> None:
        aggregate.join(msg.data["process"], int(msg.data["users"]))
        aggregate.add(msg.data["process"], msg.data["chunk"])

    runner.register_message(READY_MESSAGE, on_ready)
    runner.register_message(REPORT_MESSAGE, on_report)
    with _worker_processes(local_workers, port) as workers:
        try:
            _wait_for_workers(runner, ready, expect_workers, workers, waiting, local_workers)
            clock.start()
            for client in sorted(ready):
                runner.send_message(PLAN_MESSAGE, plan.message(clock.elapsed()), client)
            runner.start(plan.users, spawn_rate=plan.users)
            for second in range(1, warmup + duration + 1):
                _sleep_until(clock, second)
                # workers report every second: the one before last is complete
                shown = max(second - 2, 0)
                progress(_tick(aggregate, second, shown, warmup, duration))
            runner.stop()
        finally:
            runner.quit()
    return aggregate


def run_worker(master_host: str, port: int, announce: Callable[[str], None]) -> None:
    """`mlprod loadtest --worker`: load for a master, until it says quit."""
    quiet_locust()
    recorder = Recorder()
    name = process_name()
    environment = Environment(user_classes=[PredictUser])
    announce(f"worker {name} connecting to the master at {master_host}:{port}")
    try:
        runner: WorkerRunner = environment.create_worker_runner(master_host, port)
    except ConnectionError:
        raise UserError(
            f"no master answered at {master_host}:{port}; start `mlprod loadtest --master` "
            "there first, or check --master-host and --master-port"
        ) from None

    def report() -> None:
        runner.send_message(
            REPORT_MESSAGE, {"process": name, "users": runner.user_count, "chunk": recorder.drain()}
        )

    def on_plan(environment: Environment, msg: Any, **_: Any) -> None:
        plan, elapsed = Plan.from_message(msg.data)
        PredictUser.plan, PredictUser.recorder = plan, recorder
        recorder.start(time.perf_counter() - elapsed)

    def reporter() -> None:
        while True:
            gevent.sleep(REPORT_INTERVAL)
            if recorder.started:
                report()

    def on_test_stop(**_: Any) -> None:
        if recorder.started:
            report()  # before Locust's "client_stopped": the master waits for that one

    runner.register_message(PLAN_MESSAGE, on_plan)
    environment.events.test_stop.add_listener(on_test_stop)  # type: ignore[no-untyped-call]
    runner.greenlet.spawn(reporter)
    runner.greenlet.spawn(_sample_cpu, recorder)
    runner.send_message(READY_MESSAGE)
    announce(f"worker {name} connected; it quits when the master is done")
    runner.greenlet.join()


def _sleep_until(clock: Recorder, second: int) -> None:
    gevent.sleep(max(0.0, second - clock.elapsed()))


def _tick(aggregate: Aggregate, elapsed: int, shown: int, warmup: int, duration: int) -> Tick:
    point = aggregate.point(shown, measured=shown >= warmup)
    return Tick(
        elapsed=elapsed,
        total=warmup + duration,
        point_second=shown,
        measured=point.measured,
        requests=point.requests,
        errors=point.errors,
        p50=point.p50,
        p99=point.p99,
        cpu=aggregate.latest_cpu(),
    )


@dataclass(frozen=True)
class _Worker:
    """A local worker process and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log: IO[bytes]


@contextmanager
def _worker_processes(count: int, port: int) -> Iterator[list[_Worker]]:
    """`count` local `mlprod loadtest --worker` processes, ended by pid on the way out.

    After a run they quit when the master says so; after a failure they are killed.
    """
    workers: list[_Worker] = []
    failed = True
    with ExitStack() as stack:
        try:
            for _ in range(count):
                log = stack.enter_context(tempfile.TemporaryFile())
                command = [sys.executable, "-m", "mlprod_cli", "loadtest", "--worker"]
                command += ["--master-host", "127.0.0.1", "--master-port", str(port)]
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
                workers.append(_Worker(process, log))
            yield workers
            failed = False
        finally:
            for worker in workers:
                _end(worker.process, at_once=failed)


def _end(process: subprocess.Popen[bytes], at_once: bool) -> None:
    if not at_once:
        try:
            process.wait(timeout=WORKER_EXIT_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            pass
    if process.poll() is None:
        process.kill()
    process.wait()


def _wait_for_workers(
    runner: MasterRunner,
    ready: set[str],
    expected: int,
    workers: list[_Worker],
    waiting: Callable[[int, int], None],
    local_workers: int,
) -> None:
    timeout = WORKER_CONNECT_TIMEOUT if expected == local_workers else MASTER_WAIT_TIMEOUT
    deadline = time.monotonic() + timeout
    announced = -1
    while len(ready) < expected:
        for worker in workers:
            if worker.process.poll() is not None:
                raise UserError(
                    f"a load worker process exited with code {worker.process.returncode} "
                    f"before the run: {_tail(worker.log)}"
                )
        if time.monotonic() > deadline:
            raise UserError(
                f"only {len(ready)} of {expected} workers connected within {timeout:.0f} s"
            )
        if len(ready) != announced:
            announced = len(ready)
            waiting(announced, expected)
        gevent.sleep(0.1)
    # Locust counts a worker once its "client_ready" is handled; ours comes right after.
    while runner.worker_count < expected:
        gevent.sleep(0.05)


def _tail(log: IO[bytes], lines: int = 3) -> str:
    log.seek(0)
    text = log.read().decode(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(no output)"
