"""The whole stack as `make run` starts it (`paritrana up`): broker, topics, three services and the office; then a
clean stop."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from shared.settings import ALL_SERVICES
from tests.support import stack_environment

pytestmark = pytest.mark.slow


def start_stack(tmp_path: Path, **extra_env: str) -> tuple[subprocess.Popen, dict[str, int]]:
    env, ports = stack_environment(tmp_path, **extra_env)
    process = subprocess.Popen([sys.executable, "-m", "paritrana", "up"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    return process, ports


def wait_all_ready(ports: dict[str, int], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    status: dict[str, int] = {}
    while time.monotonic() < deadline:
        for name in ALL_SERVICES:
            try:
                status[name] = httpx.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=2).status_code
            except httpx.HTTPError:
                status[name] = 0
        if all(code == 200 for code in status.values()):
            return status
        time.sleep(0.25)
    return status


def test_up_serves_every_readyz_then_stops_leaving_nothing_running(tmp_path: Path) -> None:
    started = time.monotonic()
    process, ports = start_stack(tmp_path)
    try:
        status = wait_all_ready(ports, timeout=60)
        assert status == {"enrolment": 200, "subsidy": 200, "award": 200, "office": 200}, status
        ready_after = time.monotonic() - started
        children = psutil.Process(process.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "tansu" in names and names.count("paritrana serve") == 4, names
        for name in ALL_SERVICES:
            metrics = httpx.get(f"http://127.0.0.1:{ports[name]}/metrics", timeout=5)
            assert metrics.status_code == 200 and "paritrana_" in metrics.text
            assert httpx.get(f"http://127.0.0.1:{ports[name]}/healthz", timeout=5).json() == {"status": "ok"}
        assert (tmp_path / "var" / "admin.key").read_text().startswith("prt_")
        # The office's first admin can sign in with the password make run printed and kept.
        password = (tmp_path / "var" / "office-admin.txt").read_text().strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['office']}", timeout=10) as office:
            page = office.get("/sign-in")
            token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            signed_in = office.post("/sign-in", data={"csrf_token": token, "username": "admin", "password": password})
            assert signed_in.status_code == 303 and office.get("/approvals").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "stopped" in output and "Admin API key" in output and "Office" in output
    time.sleep(0.5)
    left = [c.pid for c in children if psutil.pid_exists(c.pid) and psutil.Process(c.pid).status() != "zombie"]
    assert left == [], f"processes left running: {left}"
    for port in ports.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    print(f"stack ready in {ready_after:.1f}s")


def test_up_refuses_to_start_beside_something_on_its_ports_and_says_which(tmp_path: Path) -> None:
    # Another stack's broker on our broker's port: waiting for the port would find it, and our services would
    # publish to the other stack's log.
    env, ports = stack_environment(tmp_path)
    with socket.create_server(("127.0.0.1", ports["broker"])), socket.create_server(("127.0.0.1", ports["award"])):
        result = subprocess.run([sys.executable, "-m", "paritrana", "up"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"127.0.0.1:{ports['broker']} is in use (PARITRANA_EMBEDDED_BROKER_PORT)" in result.stdout
    assert f"127.0.0.1:{ports['award']} is in use (PARITRANA_AWARD_PORT)" in result.stdout
    assert str(ports["enrolment"]) not in result.stdout  # only the ports taken
    assert not (tmp_path / "var" / "admin.key").exists()  # nothing started, nothing prepared
