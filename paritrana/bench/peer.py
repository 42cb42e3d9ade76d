"""The peer: the simplest FastAPI service a team might write for single registrations instead of Paritrana, so the
bench can set Paritrana's singles against it on the same machine, with the same client and the same bodies.

What it does: a Pydantic body with the same fields as enrolment's POST /v1/registrations (types only), then one
SQLite transaction that inserts the registration and an outbox row, and a 201. One connection, shared by FastAPI's
worker threads behind a lock, in WAL mode with synchronous=NORMAL (as Paritrana runs SQLite). A registration id or
NIK already stored gets a 409.

What it does not do: no API keys or rate limit, no NIK, region, date or category checks beyond the Pydantic types,
no idempotent resend, no Kafka and no relay (the outbox is never read), no decisions or counts, no metrics, no
logs. Run by the bench as its own process: `python -m paritrana.bench.peer --port P --database FILE`."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    registration_id TEXT PRIMARY KEY,
    nik TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    phone TEXT,
    category TEXT NOT NULL,
    regency_code TEXT NOT NULL,
    district_code TEXT,
    programme TEXT NOT NULL,
    start_month TEXT NOT NULL,
    months INTEGER NOT NULL,
    channel TEXT NOT NULL,
    device_id TEXT,
    captured_at TEXT NOT NULL,
    registered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


class Coverage(BaseModel):
    start_month: str
    months: int


class Registration(BaseModel):
    registration_id: str
    nik: str
    full_name: str
    phone: str | None = None
    category: str
    regency_code: str
    district_code: str | None = None
    programme: str
    coverage: Coverage
    channel: str
    device_id: str | None = None
    captured_at: datetime


def create_app(database: Path) -> FastAPI:
    connection = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/registrations", status_code=201)
    def register(body: Registration) -> dict[str, str]:
        now = datetime.now(UTC).isoformat()
        event = {"type": "worker.registered", "registration_id": body.registration_id,
                 "regency_code": body.regency_code, "category": body.category, "programme": body.programme,
                 "start_month": body.coverage.start_month, "months": body.coverage.months, "occurred_at": now}
        with lock:
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(
                    "INSERT INTO registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (body.registration_id, body.nik, body.full_name, body.phone, body.category, body.regency_code,
                     body.district_code, body.programme, body.coverage.start_month, body.coverage.months,
                     body.channel, body.device_id, body.captured_at.isoformat(), now))
                connection.execute("INSERT INTO outbox (topic, key, payload, created_at) VALUES (?, ?, ?, ?)",
                                   ("enrolment.workers", body.regency_code, json.dumps(event), now))
                connection.execute("COMMIT")
            except sqlite3.IntegrityError:
                connection.execute("ROLLBACK")
                raise HTTPException(409, "already registered") from None
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        return {"registration_id": body.registration_id, "status": "accepted"}

    return app


@dataclass
class Peer:
    """The peer's process, started by the bench."""

    url: str
    pid: int
    directory: str
    _process: subprocess.Popen[bytes]

    async def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self._process.wait, 15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await asyncio.to_thread(self._process.wait)
        shutil.rmtree(self.directory, ignore_errors=True)


async def start_peer(timeout: float = 60.0) -> Peer:
    """The peer in its own process on a free port, with a fresh database in a temporary directory."""
    from paritrana.bench.stack import free_port, wait_ready

    directory = tempfile.mkdtemp(prefix="paritrana-bench-peer-")
    port = free_port()
    log = open(Path(directory) / "peer.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "paritrana.bench.peer", "--port", str(port), "--database",
                                str(Path(directory) / "peer.db")], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    peer = Peer(f"http://127.0.0.1:{port}", process.pid, directory, process)
    try:
        await wait_ready({"peer": peer.url}, timeout, process, path="/healthz")
    except BaseException:
        await peer.stop()
        raise
    return peer


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.database), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
