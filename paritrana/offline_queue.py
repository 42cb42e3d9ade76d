"""An offline queue for field kits: registrations are kept in a local SQLite file until the kit has signal.

    queue = OfflineQueue("kit-0042.sqlite")
    queue.enqueue(body)        # works offline; fixes the registration_id now, so re-sending is always safe
    queue.sync(client)         # uploads pending items in batches and applies each item's result
    queue.summary()            # {"pending": 3, "sent": 120, "needs_correction": 1, "conflict": 0}

An upload cut off mid-batch leaves its items pending; the next sync sends them again and the server answers
"duplicate" for those it had already stored. Invalid items are set aside with the server's errors until the officer
corrects them; conflicts (the NIK already registered elsewhere) are kept with the existing registration's id.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from paritrana.client import ApiError

PENDING, SENT, NEEDS_CORRECTION, CONFLICT = "pending", "sent", "needs_correction", "conflict"
STATES = (PENDING, SENT, NEEDS_CORRECTION, CONFLICT)


class BatchUploader(Protocol):
    def register_batch(self, items: list[Mapping[str, Any]]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class QueuedItem:
    registration_id: str
    state: str
    body: dict[str, Any]
    errors: list[dict[str, Any]]
    existing_registration_id: str | None
    enqueued_at: str
    sent_at: str | None


@dataclass(frozen=True)
class SyncReport:
    uploaded: int
    accepted: int
    duplicates: int
    conflicts: int
    invalid: int
    interrupted: bool


class OfflineQueue:
    def __init__(self, path: str | Path, batch_size: int = 500) -> None:
        self.batch_size = batch_size
        self._db = sqlite3.connect(str(path), check_same_thread=False)  # one caller at a time, any thread
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("""
            CREATE TABLE IF NOT EXISTS queue (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                registration_id TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL,
                body TEXT NOT NULL,
                errors TEXT NOT NULL DEFAULT '[]',
                existing_registration_id TEXT,
                enqueued_at TEXT NOT NULL,
                sent_at TEXT
            )""")
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def enqueue(self, body: Mapping[str, Any]) -> str:
        """Store a registration for upload; returns its registration_id (given or generated now)."""
        item = dict(body)
        item.setdefault("registration_id", str(uuid.uuid4()))
        item.setdefault("channel", "field_kit")
        item.setdefault("captured_at", datetime.now(UTC).isoformat())
        with self._db:
            self._db.execute(
                "INSERT INTO queue (registration_id, state, body, enqueued_at) VALUES (?, ?, ?, ?)",
                (item["registration_id"], PENDING, json.dumps(item), datetime.now(UTC).isoformat()),
            )
        return item["registration_id"]

    def correct(self, registration_id: str, changes: Mapping[str, Any]) -> None:
        """Apply the officer's corrections to an item set aside as invalid, and queue it again."""
        row = self._db.execute("SELECT body, state FROM queue WHERE registration_id = ?", (registration_id,)).fetchone()
        if row is None or row[1] != NEEDS_CORRECTION:
            raise ValueError(f"{registration_id} is not waiting for correction")
        body = json.loads(row[0]) | dict(changes)
        with self._db:
            self._db.execute("UPDATE queue SET body = ?, state = ?, errors = '[]' WHERE registration_id = ?",
                             (json.dumps(body), PENDING, registration_id))

    def items(self, state: str | None = None) -> list[QueuedItem]:
        query = "SELECT registration_id, state, body, errors, existing_registration_id, enqueued_at, sent_at FROM queue"
        rows = self._db.execute(query + (" WHERE state = ? ORDER BY seq" if state else " ORDER BY seq"),
                                (state,) if state else ()).fetchall()
        return [QueuedItem(r[0], r[1], json.loads(r[2]), json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def summary(self) -> dict[str, int]:
        counts = dict(self._db.execute("SELECT state, COUNT(*) FROM queue GROUP BY state").fetchall())
        return {state: counts.get(state, 0) for state in STATES}

    def sync(self, uploader: BatchUploader) -> SyncReport:
        """Upload pending items batch by batch. A connection lost mid-batch stops the sync with those items still
        pending (nothing is lost); call sync again when the signal is back."""
        totals = {"accepted": 0, "duplicate": 0, "conflict": 0, "invalid": 0}
        uploaded = 0
        while True:
            batch = self._db.execute("SELECT registration_id, body FROM queue WHERE state = ? ORDER BY seq LIMIT ?",
                                     (PENDING, self.batch_size)).fetchall()
            if not batch:
                return SyncReport(uploaded, totals["accepted"], totals["duplicate"], totals["conflict"],
                                  totals["invalid"], interrupted=False)
            try:
                response = uploader.register_batch([json.loads(body) for _, body in batch])
            except (httpx.TransportError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status < 500 and exc.status != 429:
                    raise
                return SyncReport(uploaded, totals["accepted"], totals["duplicate"], totals["conflict"],
                                  totals["invalid"], interrupted=True)
            uploaded += len(batch)
            for status, count in self._apply(response["results"]).items():
                totals[status] += count

    def _apply(self, results: list[dict[str, Any]]) -> dict[str, int]:
        now = datetime.now(UTC).isoformat()
        counts = {"accepted": 0, "duplicate": 0, "conflict": 0, "invalid": 0}
        with self._db:
            for result in results:
                status = result["status"]
                counts[status] = counts.get(status, 0) + 1
                if status in ("accepted", "duplicate"):
                    self._db.execute("UPDATE queue SET state = ?, sent_at = ?, errors = '[]' "
                                     "WHERE registration_id = ?", (SENT, now, result["registration_id"]))
                elif status == "conflict":
                    self._db.execute("UPDATE queue SET state = ?, errors = ?, existing_registration_id = ? "
                                     "WHERE registration_id = ?",
                                     (CONFLICT, json.dumps(result.get("errors", [])),
                                      result.get("existing_registration_id"), result["registration_id"]))
                else:
                    self._db.execute("UPDATE queue SET state = ?, errors = ? WHERE registration_id = ?",
                                     (NEEDS_CORRECTION, json.dumps(result.get("errors", [])),
                                      result["registration_id"]))
        return counts
