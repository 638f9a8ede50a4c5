"""Run a case in a worker process, so that a crash or a hang costs one case, not the run.

Models: nothing upstream; a small persistent worker in the spirit of
`concurrent.futures.ProcessPoolExecutor`, but one whose death is an answer rather than a broken
pool.
Spec: the oracle contract (a crash or hang becomes an `Observation` with an error).

`run_isolated("pkg.module:function", payload, timeout)` calls `function(payload)` in a worker
process and returns its result. The worker stays alive between calls, because importing torch
costs about two seconds. When the worker dies (a segfault, `os._exit`) or does not answer within
`timeout` seconds (it is then killed), the result is an `Observation` whose `error` is
`ErrorObs("WorkerCrash", ...)` or `ErrorObs("Timeout", ...)`, and the next call starts a fresh
worker. An exception that escapes `function` becomes an `Observation` with that exception's type
and message.

Simplifications:
1. One shared worker per parent process, used by one call at a time (a lock serialises callers).
2. The worker's stdout is the caller's stderr, so that nothing it prints can reach the caller's
   stdout (the CLI may write JSON there).
3. `payload` and the result travel by pickle; `path` and `side` of an error observation are read
   from the payload when it is a dict with those keys.
4. `timeout` counts from the moment the request is sent; the worker's start-up (importing the
   `preload` modules) is waited for separately, up to `START_TIMEOUT` seconds. A `deadline`
   (a `time.monotonic()` value) bounds both: start-up and call together never wait past it
   (RPT-16), so a campaign's budget also covers the fresh worker that replaces a killed one.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from oracle.observation import ErrorObs, Observation, path_table

__all__ = [
    "PATH_TIMEOUTS",
    "IsolatedWorker",
    "case_timeout",
    "error_observation",
    "resolve",
    "run_isolated",
    "run_torch_isolated",
    "shutdown",
    "torch_case",
]

DEFAULT_PRELOAD = ("torch",)
START_TIMEOUT = 120.0
# Seconds a torch case may take on each path before it counts as a hang (`--timeout` default):
# seconds where nothing compiles, minutes for inductor's C++ compile.
PATH_TIMEOUTS = path_table({"eager": 30.0, "fake": 30.0, "make_fx": 60.0, "functional": 60.0,
                            "export": 120.0, "compile:aot_eager": 180.0,
                            "compile:inductor": 600.0}, "isolate.PATH_TIMEOUTS")


def case_timeout(path: str, timeout: float | None = None) -> float:
    """`timeout` when given, else the path's default (`PATH_TIMEOUTS`)."""
    return PATH_TIMEOUTS.get(path, 300.0) if timeout is None else timeout

# The worker: `python -c` with the parent's sys.path (see [NOTE: worker start]).
_WORKER_CODE = (
    "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
    "from oracle.isolate import worker_entry; "
    "worker_entry(int(sys.argv[2]), json.loads(sys.argv[3]))"
)


def resolve(qualname: str) -> Any:
    """`"pkg.module:function"` (or `"pkg.module.function"`) -> the function object."""
    if ":" in qualname:
        module, _, name = qualname.partition(":")
    else:
        module, _, name = qualname.rpartition(".")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


# --------------------------------------------------------------------------------------------
# The worker side
# --------------------------------------------------------------------------------------------


def worker_entry(fd: int, preload: list[str]) -> None:
    """The worker's loop: say "ready", then answer each `(qualname, payload)` request."""
    conn = Connection(fd)
    for module in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        qualname, payload = request
        try:
            answer = ("ok", resolve(qualname)(payload))
        except Exception as exc:  # reported to the parent as an observation
            answer = ("raise", type(exc).__name__, str(exc))
        conn.send(answer)


# --------------------------------------------------------------------------------------------
# The parent side
# --------------------------------------------------------------------------------------------


def _signal_name(returncode: int | None) -> str:
    if returncode is None or returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def error_observation(payload: Any, type_: str, message: str, seconds: float) -> Observation:
    """The observation standing in for a case that gave no answer (Simplification 3)."""
    info = payload if isinstance(payload, dict) else {}
    return Observation(
        path=str(info.get("path", "")),
        side=str(info.get("side", "torch")),
        error=ErrorObs(type_, message),
        seconds=seconds,
    )


def _until(timeout: float, deadline: float | None) -> float:
    """`timeout`, cut to the seconds left before `deadline` (never negative)."""
    if deadline is None:
        return timeout
    return max(0.0, min(timeout, deadline - time.monotonic()))


class _NoAnswer(Exception):
    """The worker died or went silent: `kind` is "WorkerCrash" or "Timeout"."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class IsolatedWorker:
    """A worker process that answers calls until it dies or is killed.

    [NOTE: worker start] The worker is a plain `subprocess` running `python -c`, not a
    `multiprocessing` spawn child: spawn re-imports the caller's `__main__`, which breaks any
    script without a main guard. It gets the parent's `sys.path`, and talks over one end of a
    `socketpair` wrapped in `multiprocessing.connection.Connection` (pickled messages).
    """

    def __init__(self, preload: tuple[str, ...] = DEFAULT_PRELOAD) -> None:
        self.preload = tuple(preload)
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self, deadline: float | None = None) -> None:
        parent, child = socket.socketpair()
        argv = [sys.executable, "-c", _WORKER_CODE, json.dumps(sys.path), str(child.fileno())]
        argv.append(json.dumps(list(self.preload)))
        self._process = subprocess.Popen(
            argv, pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=2
        )
        child.close()
        self._conn = Connection(parent.detach())
        self._wait(_until(START_TIMEOUT, deadline), "start-up")

    def _wait(self, timeout: float, what: str) -> Any:
        """The next message, or `_NoAnswer` (the worker is killed first)."""
        try:
            if self._conn.poll(timeout):
                return self._conn.recv()
        except (EOFError, OSError):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5.0)
            how = _signal_name(self._process.returncode)
            self._kill()
            raise _NoAnswer("WorkerCrash", f"worker died during {what} ({how})") from None
        self._kill()
        raise _NoAnswer("Timeout", f"no answer to {what} within {timeout:g} s")

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5.0)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def stop(self) -> None:
        """Ask the worker to leave; kill it if it has not within a second."""
        if self._process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(1.0)
        self._kill()

    def call(self, qualname: str, payload: Any, timeout: float,
             deadline: float | None = None) -> Any:
        """`resolve(qualname)(payload)` in the worker, or an error `Observation`.

        `deadline` (a `time.monotonic()` value) cuts the start-up of a fresh worker and the call
        together (Simplification 4)."""
        with self._lock:
            start = time.perf_counter()
            try:
                if not self.alive():
                    self._kill()
                    self._start(deadline)
                start = time.perf_counter()
                self._send((qualname, payload))
                answer = self._wait(_until(timeout, deadline), "the call")
            except _NoAnswer as exc:
                return error_observation(payload, exc.kind, str(exc), time.perf_counter() - start)
        if answer[0] == "raise":
            return error_observation(payload, answer[1], answer[2], time.perf_counter() - start)
        return answer[1]

    def _send(self, message: Any) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:  # it died before it could listen
            self._kill()
            raise _NoAnswer("WorkerCrash", f"worker gone ({exc})") from None


_WORKER: IsolatedWorker | None = None
_WORKER_LOCK = threading.Lock()


def _shared_worker() -> IsolatedWorker:
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = IsolatedWorker()
        return _WORKER


def run_isolated(fn_qualname: str, payload: Any, timeout: float,
                 deadline: float | None = None) -> Any:
    """Call `fn(payload)` in the shared worker (started on first use, reused afterwards)."""
    return _shared_worker().call(fn_qualname, payload, timeout, deadline)


@atexit.register
def shutdown() -> None:
    """Stop the shared worker (also run when the interpreter exits)."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is not None:
            _WORKER.stop()
            _WORKER = None


# --------------------------------------------------------------------------------------------
# torch cases
# --------------------------------------------------------------------------------------------


def torch_case(payload: dict) -> dict:
    """Worker side of `run_torch_isolated`: load the program, run the path, return JSON.

    The imports are here, not at the top, so that the parent (the CLI) never imports torch.
    """
    from oracle.program import load_program
    from oracle.torch_runner import run_torch

    program = load_program(payload["program"])
    return run_torch(program, payload["path"]).to_json(arrays=True)  # pickled, not JSON


def run_torch_isolated(program_json: dict, path: str, timeout: float | None = None,
                       deadline: float | None = None) -> Observation:
    """`torch_runner.run_torch` in the shared worker; `program_json` as `program_to_json` makes.

    `timeout` defaults to the path's (`case_timeout`); `deadline` as in `IsolatedWorker.call`."""
    payload = {"program": program_json, "path": path, "side": "torch"}
    result = run_isolated(f"{__name__}:torch_case", payload, case_timeout(path, timeout),
                          deadline)
    return result if isinstance(result, Observation) else Observation.from_json(result)
