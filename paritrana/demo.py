"""`paritrana demo` (and `make demo`): the seed regions, live, against a running stack.

It moves the stack's clock to 1 March 2024 (dev mode only), seeds fiscal-year-2024 budgets, targets and
regulation status for Banten's eight regencies/cities, Kota Bekasi and Kota Palangka Raya, then streams synthetic
registrations: field kits uploading batches (one back from three days offline, re-sending what it had already
sent), partner apps sending singles, a few invalid rows rejected with their reasons, and a few workers ending
coverage. Kota Serang's budget is sized to run out within a minute or two, so denials and threshold events show.
Everything is synthetic and deterministic for a given --seed.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from paritrana.client import ApiError, AsyncClient
from paritrana.synthetic import WorkerFactory, registration_payload
from shared.clock import FISCAL_TZ
from shared.vocabulary import END_REASONS

DEMO_NOW = datetime(2024, 3, 1, 8, 0, tzinfo=FISCAL_TZ)
DEMO_YEAR = 2024
MONTHS = 10  # March to December
MEMBER_COST = 16_800 * MONTHS

# (region, name, budget in members for the rest of the year, target population, regulation)
SEED_REGIONS: tuple[tuple[str, str, int, int, dict[str, Any] | None], ...] = (
    ("36.01", "Kab. Pandeglang", 4_000, 20_000, None),
    ("36.02", "Kab. Lebak", 3_000, 18_000, None),
    ("36.03", "Kab. Tangerang", 12_000, 60_000,
     {"status": "perda", "reference": "Perda Kab. Tangerang tentang Perlindungan Jaminan Sosial Ketenagakerjaan "
                                       "(contoh demo)", "enacted_on": "2023-06-12"}),
    ("36.04", "Kab. Serang", 5_000, 25_000, None),
    ("36.71", "Kota Tangerang", 6_000, 30_000, None),
    ("36.72", "Kota Cilegon", 2_500, 12_000,
     {"status": "in_preparation",
      "reference": "Rancangan Perwali Cilegon tentang pekerja rentan (contoh demo)"}),
    ("36.73", "Kota Serang", 20, 9_000, None),  # with the province's 20, runs out in about 20 s at --rate 20
    ("36.74", "Kota Tangerang Selatan", 6_000, 28_000, None),
    ("32.75", "Kota Bekasi", 30_550, 30_550,  # 10,245 contract staff + 2,830 teachers + 1,711 Linmas + 15,764 kader
     {"status": "perkada", "instrument": "perwali", "reference": "Perwali Kota Bekasi (contoh demo)",
      "enacted_on": "2023-01-02"}),
    ("62.71", "Kota Palangka Raya", 3_000, 10_000,
     {"status": "perkada", "instrument": "perwali", "reference": "Perwali Palangka Raya, GN Lingkaran (contoh demo)",
      "enacted_on": "2022-11-01"}),
)
INNOVATIONS = (
    ("62.71", "GN Lingkaran", "Gerakan Nasional Lingkungan Kerja Aman: premi pekerja rentan dari APBD.", 10),
    ("32.75", "Kader Posyandu terlindungi", "15.764 kader Posyandu dilindungi BPJS Ketenagakerjaan.", 6),
)
# The seeds' categories, weighted the way the articles tell it.
DEMO_MIX = (("rt_rw_head", 22), ("posyandu_cadre", 22), ("linmas", 10), ("mosque_officer", 9),
            ("religious_teacher", 8), ("ojol_driver", 9), ("election_officer", 15), ("blk_trainee", 5))
BAD_ROWS = (  # (what an officer got wrong, how)
    ("NIK kurang satu digit", lambda b: b.__setitem__("nik", b["nik"][:15])),
    ("kategori tidak dikenal", lambda b: b.__setitem__("category", "astronaut")),
    ("nomor HP salah", lambda b: b.__setitem__("phone", "12345")),
)


@dataclass
class DemoStats:
    sent: int = 0
    outcomes: Counter = field(default_factory=Counter)
    rejections: Counter = field(default_factory=Counter)
    ended: int = 0
    accepted_ids: list[str] = field(default_factory=list)

    def line(self) -> str:
        o = self.outcomes
        return (f"sent {self.sent}: accepted {o['accepted']}, duplicates {o['duplicate']}, conflicts {o['conflict']}, "
                f"invalid {o['invalid']}; ended {self.ended}")


class Demo:
    def __init__(self, client: AsyncClient, *, seed: int = 2024, rate: float = 20.0, kits: int = 6,
                 say: Callable[[str], None] = print) -> None:
        self.client, self.rate, self.say = client, rate, say
        self.rng = random.Random(seed)
        self.factory = WorkerFactory(seed=seed, regency_codes=[r[0] for r in SEED_REGIONS],
                                     reference_date=DEMO_NOW.date())
        self.factory._categories = [c for c, _ in DEMO_MIX]
        self.factory._weights = [w for _, w in DEMO_MIX]
        self.kits = [f"kit-{i:04d}" for i in range(1, kits + 1)]
        self.stats = DemoStats()
        self.offline_kit: list[dict[str, Any]] = []

    async def seed(self, urls: dict[str, str], key: str) -> None:
        import httpx

        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            for name, url in urls.items():
                response = await http.put(f"{url}/v1/clock", json={"now": DEMO_NOW.isoformat()})
                if response.status_code != 200:
                    raise RuntimeError(f"{name} refused to move its clock ({response.status_code}): the demo "
                                       "needs a dev-mode stack and an admin key")
        for code, name, members, target, regulation in SEED_REGIONS:
            await self.client.set_budget_lines(code, DEMO_YEAR, [{
                "line_id": f"apbd-{DEMO_YEAR}", "source": "apbd_kabkota", "amount_rupiah": members * MEMBER_COST,
                "legal_reference": f"APBD {name} {DEMO_YEAR} (contoh demo)"}],
                # The demo shows budgets running out and the denials that follow.
                funding_policy="deny")
            await self.client.put_target(code, DEMO_YEAR, target, "Data pekerja rentan Disnaker (contoh demo)")
            if regulation:
                await self.client.put_regulation(code, regulation)
        await self.client.set_budget_lines("36", DEMO_YEAR, [{
            "line_id": f"apbd-prov-{DEMO_YEAR}", "source": "apbd_provinsi", "amount_rupiah": 20 * MEMBER_COST,
            "legal_reference": f"APBD Provinsi Banten {DEMO_YEAR} (contoh demo)"}], funding_policy="deny")
        for code, title, note, points in INNOVATIONS:
            await self.client.add_innovation(code, DEMO_YEAR, title, note, points)
        self.say(f"Seeded {len(SEED_REGIONS)} regions for fiscal year {DEMO_YEAR}; clocks set to {DEMO_NOW:%d %B %Y}.")

    def _item(self, channel: str, device_id: str | None, captured_at: datetime) -> dict[str, Any]:
        worker = self.factory.worker()
        body = registration_payload(worker, self.factory.registration_id(), start_month=f"{DEMO_YEAR}-03",
                                    months=MONTHS, channel=channel, device_id=device_id, captured_at=captured_at)
        if self.rng.random() < 0.03:
            reason, spoil = self.rng.choice(BAD_ROWS)
            spoil(body)
        return body

    async def run(self, duration: float | None, stop: asyncio.Event) -> DemoStats:
        loop = asyncio.get_running_loop()
        started = loop.time()
        # The kit that was offline for three days: everything it holds was captured back then.
        back_then = DEMO_NOW - timedelta(days=3)
        self.offline_kit = [self._item("field_kit", "kit-offline", back_then + timedelta(minutes=7 * i))
                            for i in range(40)]
        pending: dict[str, list[dict[str, Any]]] = {kit: [] for kit in self.kits}
        tick, next_report = 0, started + 5
        while not stop.is_set() and (duration is None or loop.time() - started < duration):
            tick += 1
            now = DEMO_NOW + timedelta(seconds=loop.time() - started)
            count = int(self.rate) + (self.rng.random() < self.rate - int(self.rate))
            for _ in range(count):
                if self.rng.random() < 0.6:
                    kit = self.rng.choice(self.kits)
                    pending[kit].append(self._item("field_kit", kit, now))
                else:
                    await self._single(self._item("partner_app", None, now))
            for kit, items in pending.items():
                if len(items) >= self.rng.randint(10, 30):
                    await self._batch(items)
                    pending[kit] = []
            if tick == 8:
                self.say("kit-offline is back after three days: uploading, then re-sending what it was unsure of")
                await self._batch(self.offline_kit[:25])
                await self._batch(self.offline_kit)  # the first 25 come back as duplicates
            if tick % 4 == 0 and self.stats.accepted_ids:
                await self._end_one()
            if loop.time() >= next_report:
                next_report += 5
                await self._report()
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
        for items in pending.values():
            if items:
                await self._batch(items)
        await self._report()
        return self.stats

    async def _single(self, body: dict[str, Any]) -> None:
        self.stats.sent += 1
        try:
            result = await self.client.register(body)
            self.stats.outcomes["accepted"] += 1
            self.stats.accepted_ids.append(result["registration_id"])
        except ApiError as error:
            outcome = "conflict" if error.status == 409 else "invalid"
            self.stats.outcomes[outcome] += 1
            self._rejected(error.errors[0].code if error.errors else str(error.status), error.errors)

    async def _batch(self, items: list[dict[str, Any]]) -> None:
        self.stats.sent += len(items)
        response = await self.client.register_batch(items)
        for result in response["results"]:
            self.stats.outcomes[result["status"]] += 1
            if result["status"] == "accepted":
                self.stats.accepted_ids.append(result["registration_id"])
            elif result["status"] in ("invalid", "conflict"):
                errors = result.get("errors") or []
                self._rejected(errors[0]["code"] if errors else result["status"], errors)

    def _rejected(self, code: str, errors: Any) -> None:
        self.stats.rejections[code] += 1
        if self.stats.rejections[code] <= 2:
            first = errors[0] if errors else None
            field_name = (first["field"] if isinstance(first, dict) else getattr(first, "field", None)) or "-"
            message = (first["message"] if isinstance(first, dict) else getattr(first, "message", "")) or code
            self.say(f"  rejected ({code}) {field_name}: {message}")

    async def _end_one(self) -> None:
        registration_id = self.rng.choice(self.stats.accepted_ids)
        try:
            await self.client.end(registration_id, self.rng.choice(END_REASONS))
            self.stats.accepted_ids.remove(registration_id)
            self.stats.ended += 1
        except ApiError:
            pass  # not funded (yet): ending is for live registrations; try another next time

    async def _report(self) -> None:
        try:
            serang = await self.client.budget("36.73", DEMO_YEAR)
            budget = (f"; Kota Serang budget used {serang['utilisation_percent']}%, "
                      f"remaining {serang['formatted']['remaining']}")
        except ApiError:
            budget = ""
        self.say(self.stats.line() + budget)
