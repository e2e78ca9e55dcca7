"""Helpers for tests that run Quarterdeck as real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

#: How long a test waits for a started process to say it is ready before giving up.
READY_WAIT_SECONDS = 300.0


def ephemeral_port_low() -> int:
    """The first port of the kernel's ephemeral range. bind(0) picks from that range, and so does
    every outgoing connection (a database client, a gRPC channel) for its local port: a port
    chosen there for a service that binds it later may be taken first (CI saw identity lose
    port 46801 that way), so ports handed out ahead of time come from below it."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(size: int, start: int = 20000, end: int | None = None) -> int:
    """The first port of ``size`` consecutive ports that are free on 127.0.0.1 right now, below
    the ephemeral range unless ``end`` says otherwise."""
    end = end if end is not None else max(ephemeral_port_low(), start + 1000)
    port = start + (os.getpid() * 7) % max(1, min(10000, end - start - size))
    while port + size < end:
        sockets = []
        try:
            for offset in range(size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            port += size
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port block")


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition: object, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


def quarterdeck(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


class Output:
    """Everything a process printed so far, read continuously so its pipe never fills up, and
    written line by line to ``log_path`` if given (to read after the run, or during it)."""

    def __init__(self, process: subprocess.Popen[str], log_path: Path | None = None) -> None:
        self.lines: list[str] = []
        self.log_path = log_path
        self._ready = threading.Event()
        self._ready_line = ""
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        log = self.log_path.open("a", buffering=1) if self.log_path is not None else None
        try:
            for line in process.stdout:
                self.lines.append(line)
                if log is not None:
                    log.write(line)
                if self._ready_line and self._ready_line in line:
                    self._ready.set()
        finally:
            if log is not None:
                log.close()
        self._ready.set()  # the process ended: nobody should keep waiting

    def wait_for(self, ready_line: str, timeout: float) -> bool:
        self._ready_line = ready_line
        self._thread.start()
        self._ready.wait(timeout)
        return any(ready_line in line for line in self.lines)

    @property
    def text(self) -> str:
        return "".join(self.lines)


@contextmanager
def started(
    command: list[str],
    env: dict[str, str],
    ready_line: str,
    timeout: float = READY_WAIT_SECONDS,
    log_path: Path | None = None,
) -> Iterator[tuple[subprocess.Popen[str], Output]]:
    """Run ``command`` until it prints ``ready_line``; yields the process and its output (also
    written to ``log_path`` if given).

    The wait is generous (a shared, loaded CI machine can be many times slower than a laptop);
    a process that exits stops the wait at once."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = Output(process, log_path)
    try:
        if not output.wait_for(ready_line, timeout):
            state = (
                f"exited with code {process.returncode}"
                if process.poll() is not None
                else f"still running after {timeout:.0f} s"
            )
            raise RuntimeError(
                f"waited for {' '.join(command[-8:])!r} to print {ready_line!r}; it {state}. "
                f"Its output:\n{output.text}"
            )
        yield process, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def grpc_serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        except grpc.RpcError:
            return False
    return response.status == health_pb2.HealthCheckResponse.SERVING
