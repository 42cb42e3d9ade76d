from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import JSON, DateTime, Float, MetaData, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from shared.database import Base, Database, changed_rows
from shared.vocabulary import KEY_KINDS, REGION_CODE

SCOPES = ("registrations:write", "registrations:read", "admin")
NATIONAL = "*"
_KEY = re.compile(r"^prt_([0-9a-f]{16})_([A-Za-z0-9_-]{20,})$")


class AccessBase(Base):
    __abstract__ = True
    metadata = MetaData()


class ApiKey(AccessBase):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    regions: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Requests per second this key may make; None means the service default (PARITRANA_RATE_LIMIT_PER_SECOND).
    rate_limit_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)


def key_id_of(presented: str) -> str | None:
    """The id part of a key as presented (never its secret part): how a service knows its own key's entries."""
    match = _KEY.match(presented.strip())
    return match.group(1) if match else None


def region_covers(granted: str, region_code: str) -> bool:
    """A grant of "36" covers Banten and everything in it; "36.72" covers Kota Cilegon only; "*" covers all."""
    return granted == NATIONAL or region_code == granted or region_code.startswith(granted + ".")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and name (never its secret), its scopes and regions."""

    key_id: str
    name: str
    kind: str
    scopes: frozenset[str]
    regions: tuple[str, ...]
    rate_limit_per_second: float | None = None
    # Where this request came from, for the audit trail (set per request by require_scope).
    source_ip: str | None = None

    @property
    def national(self) -> bool:
        return NATIONAL in self.regions

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def may_act_in(self, region_code: str) -> bool:
        return any(region_covers(g, region_code) for g in self.regions)

    def province_filter(self) -> tuple[str, ...] | None:
        """Region prefixes a listing must stay inside, or None for a national key."""
        return None if self.national else self.regions


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str  # shown once, never stored


def _hash(secret: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is as safe as a slow one and keeps every request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessStore:
    MIGRATIONS = Path(__file__).parent / "migrations"

    def __init__(self, database: Database) -> None:
        self.database = database
        self._reader: sqlite3.Connection | None = None

    @classmethod
    def from_url(cls, url: str) -> AccessStore:
        return cls(Database(url, migrations=cls.MIGRATIONS, version_table="alembic_version_access"))

    async def create(self, name: str, kind: str, scopes: list[str], regions: list[str],
                     rate_limit_per_second: float | None = None) -> IssuedKey:
        if kind not in KEY_KINDS:
            raise ValueError(f"kind must be one of {', '.join(KEY_KINDS)}")
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown or not scopes:
            raise ValueError(f"scopes must be among {', '.join(SCOPES)}")
        bad = [r for r in regions if r != NATIONAL and not REGION_CODE.match(r)]
        if bad or not regions:
            raise ValueError("regions must be province codes (PP), regency/city codes (PP.KK) or * for national")
        if rate_limit_per_second is not None and rate_limit_per_second <= 0:
            raise ValueError("rate limit must be a positive number of requests per second")
        key_id = secrets.token_hex(8)
        secret = f"prt_{key_id}_{secrets.token_urlsafe(32)}"
        async with self.database.transaction() as session:
            session.add(ApiKey(key_id=key_id, name=name, kind=kind, secret_sha256=_hash(secret),
                               scopes=sorted(set(scopes)), regions=sorted(set(regions)),
                               created_at=datetime.now(UTC), rate_limit_per_second=rate_limit_per_second))
        return IssuedKey(key_id, secret)

    async def list(self) -> list[ApiKey]:
        async with self.database.reading() as session:
            return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())

    async def revoke(self, key_id: str) -> bool:
        async with self.database.transaction() as session:
            result = await session.execute(
                update(ApiKey).where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            return changed_rows(result) == 1

    async def authenticate(self, presented: str) -> Principal | None:
        """The key's principal, read afresh for every request so that a revocation holds at once everywhere."""
        match = _KEY.match(presented.strip())
        if not match:
            return None
        found = await self._stored(match.group(1))
        # Compare in constant time; an unknown id still costs one comparison so timing tells nothing.
        expected = found.secret_sha256 if found is not None else "0" * 64
        if not hmac.compare_digest(expected, _hash(presented.strip())) or found is None or found.revoked:
            return None
        return found.principal

    async def _stored(self, key_id: str) -> _StoredKey | None:
        if (path := self.database.sqlite_path) is not None:
            try:
                return self._read_in_loop(path, key_id)
            except sqlite3.Error:
                pass  # busy (a recovery, say): read through the pool, which waits without holding the loop
        async with self.database.reading() as session:
            key = await session.get(ApiKey, key_id)
        return None if key is None else _StoredKey(
            key.secret_sha256, key.revoked_at is not None,
            Principal(key.key_id, key.name, key.kind, frozenset(key.scopes), tuple(key.regions),
                      key.rate_limit_per_second))

    def _read_in_loop(self, path: Path, key_id: str) -> _StoredKey | None:
        """SQLite: the key's row read in the event loop's own thread, with the standard library's driver.

        Through aiosqlite the look-up was a read transaction of five or six hand-offs to a worker thread, and under
        32 concurrent clients the pool's overflow opened a connection (and a thread) for many of them: about a fifth
        of enrolment's busy samples for a single registration (docs/benchmark.md). A look-up by primary key in a
        small table takes microseconds, and in WAL mode a reader does not wait for writers. No busy timeout, so the
        loop is never held waiting for a lock."""
        if self._reader is None:
            # mode=rw: never create the file, which only the migrations do.
            self._reader = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=0,
                                           isolation_level=None)
            self._reader.execute("PRAGMA query_only=1")
        row = self._reader.execute(
            "SELECT name, kind, secret_sha256, scopes, regions, revoked_at, rate_limit_per_second "
            "FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            return None
        name, kind, secret_sha256, scopes, regions, revoked_at, rate = row
        return _StoredKey(secret_sha256, revoked_at is not None,
                          Principal(key_id, name, kind, frozenset(json.loads(scopes)), tuple(json.loads(regions)),
                                    rate))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.database.dispose()


@dataclass(frozen=True)
class _StoredKey:
    secret_sha256: str
    revoked: bool
    principal: Principal
