"""Personal data stays in the enrolment database: a realistic run of all three services on a broker of its own,
then everything the run emitted is scanned for the NIKs, names and phone numbers it used: every message on every
topic (keys, values and headers, dead-letter topics included, after poison messages that carry a NIK), every log
line of every service as its MaskedJsonFormatter writes it, /metrics of every service, and the bodies of rejected
requests. Only authorised reads may return them.

The same run checks the operational metrics: outbox backlog, consumer lag per topic and partition, dead-letter and
decision counts.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import read_to_end
from shared.observability import MaskedJsonFormatter
from tests.enrolment.sample import item, synthetic_nik
from tests.security.stack import CILEGON, Stack, running_stack
from tests.support import eventually

WORKERS = [  # synthetic people: names and phone numbers no other text in a run contains
    ("Wulan Sintetika", "0813-1111-2201"), ("Gilang Purbaya Sampel", "0813-1111-2202"),
    ("Nur'aini Contohwati", "0813-1111-2203"), ("Ma'ruf Fiktifin", "0813-1111-2204"),
    ("Sukmawijaya", "0813-1111-2205"), ("Dewi Anggrekasih", "0813-1111-2206"),
]


def needles_of(items: list[dict]) -> dict[str, str]:
    """What must not appear: each NIK, each name (as sent and as stored), each phone's significant digits."""
    found = {}
    for body in items:
        found[body["nik"]] = "NIK"
        found[body["full_name"]] = found[body["full_name"].upper()] = "name"
        found[re.sub(r"\D", "", body["phone"])[1:]] = "phone"  # 8131111220x: inside 08…, 628… and +628… alike
    return found


def leaks(text: str, needles: dict[str, str]) -> list[str]:
    return [f"{kind} {needle}" for needle, kind in needles.items() if needle in text]


async def every_message(bootstrap: str) -> list[tuple[str, bytes]]:
    """(topic, text) for the key, value and each header of every message on every topic of the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    finally:
        await admin.close()
    out: list[tuple[str, bytes]] = []
    async for batch in read_to_end(bootstrap, topics, client_id="personal-data-scan"):
        for m in batch:
            out += [(m.topic, m.key or b""), (m.topic, m.value or b"")]
            out += [(m.topic, k.encode() + b"=" + (v or b"")) for k, v in m.headers or ()]
    return out


def metric(text: str, name: str, **labels: str) -> list[float]:
    values = []
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            values.append(float(line.rsplit(" ", 1)[1]))
    return values


async def test_a_run_emits_no_personal_data_outside_the_enrolment_database(isolated_broker, backend: str,
                                                                          tmp_path: Path) -> None:
    async with running_stack(isolated_broker, backend, tmp_path) as stack:
        await drive_and_scan(stack)


async def drive_and_scan(stack: Stack) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(MaskedJsonFormatter("scan"))
    logging.getLogger().addHandler(handler)
    try:
        await drive(stack, lines)
    finally:
        logging.getLogger().removeHandler(handler)


async def drive(stack: Stack, lines: io.StringIO) -> None:
    items = [item(CILEGON, full_name=name, phone=phone) for name, phone in WORKERS]
    needles = needles_of(items)
    error_bodies: list[str] = []
    async with stack.client("subsidy") as subsidy:
        lines_body = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": 16_800 * 100,
                                 "legal_reference": "Perda Kota Cilegon 1/2024"}]}
        assert (await subsidy.put(f"/v1/budgets/{CILEGON}/2025/lines", json=lines_body)).status_code == 200
    async with stack.client("enrolment", "banten") as banten, stack.client("enrolment", "jabar") as jabar:
        for body in items[:3]:
            assert (await banten.post("/v1/registrations", json=body)).status_code == 201
        batch = (await banten.post("/v1/registrations/batch", json={"items": items[3:]})).json()
        assert batch["counts"]["accepted"] == 3
        # Rejections that carry personal data in the request: their answers must not repeat it.
        rejected = [
            await banten.post("/v1/registrations", json=items[0] | {"registration_id": item()["registration_id"]}),
            await banten.post("/v1/registrations", json=items[1] | {"nik": items[1]["nik"][:15]}),
            await banten.post("/v1/registrations", json=items[2] | {"phone": "12" + items[2]["phone"]}),
            await banten.post("/v1/registrations", json=items[3] | {"full_name": items[3]["full_name"] + " 2"}),
            await jabar.post("/v1/registrations", json=items[4] | {"registration_id": item()["registration_id"]}),
            await banten.post("/v1/registrations/batch", json={"items": [items[5] | {"regency_code": "32.73"}]}),
            await banten.post("/v1/registrations", content=json.dumps(items[0])[:-5].encode(),
                              headers={"Content-Type": "application/json"}),
            await banten.post("/v1/registrations", content=json.dumps(items[0]).encode(),
                              headers={"Content-Type": "text/plain"}),
            await jabar.get(f"/v1/registrations/{items[0]['registration_id']}"),
        ]
        assert [r.status_code for r in rejected] == [409, 422, 422, 422, 403, 200, 400, 415, 403]
        error_bodies += [r.text for r in rejected]
        # Authorised reads do return the personal data: that is what they are for.
        read = await banten.get(f"/v1/registrations/{items[0]['registration_id']}")
        assert read.json()["worker"]["nik"] == items[0]["nik"]
        assert (await banten.post(f"/v1/registrations/{items[5]['registration_id']}/end",
                                  json={"reason": "moved"})).status_code == 200

    # Poison on both event topics: a partner's raw registration (NIK, name, phone) sent to the wrong place.
    poison_item = item(CILEGON, nik=synthetic_nik("367201"), full_name="Rahasia Poisonita", phone="0813-1111-2299")
    needles.update(needles_of([poison_item]))
    poison = [(json.dumps(poison_item).encode(), CILEGON.encode(), [("nik", poison_item["nik"].encode())]),
              (f"NIK {poison_item['nik']} {poison_item['full_name']}".encode(), poison_item["nik"].encode(), [])]
    injected = set()  # what the test itself put on the event topics: not the system's doing
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.bootstrap_servers)
    await producer.start()
    try:
        for topic in ("enrolment.workers", "subsidy.decisions"):
            for value, key, headers in poison:
                await producer.send_and_wait(topic, value, key=key, headers=headers)
                injected |= {(topic, value), (topic, key)} | {(topic, k.encode() + b"=" + v) for k, v in headers}
    finally:
        await producer.stop()

    async def settled() -> bool:
        async with stack.client("enrolment") as c:
            statuses = [(await c.get(f"/v1/registrations/{i['registration_id']}")).json()["status"] for i in items]
        return statuses == ["active"] * 5 + ["ended"]
    await eventually(settled, timeout=30)

    # The BPJS exchange: the member file (an authorised read of personal data), then BPJS's answer with KPJ numbers,
    # a rejection and a NIK nobody registered. The answer must not repeat a NIK, and no KPJ number may leave the
    # enrolment database either.
    kpj_numbers = [f"2599887766{i:02d}" for i in range(4)]
    stranger = synthetic_nik("367201")
    needles.update({k: "KPJ" for k in kpj_numbers} | {stranger: "NIK"})
    result_file = "NIK;No KPJ;Status;Alasan\n" + "".join(
        f"{body['nik']};{kpj};Terdaftar;\n" for body, kpj in zip(items[:4], kpj_numbers))
    result_file += f"{items[4]['nik']};;Ditolak;Terdaftar PU\n{stranger};2599887766991;Terdaftar;\n"
    async with stack.client("enrolment", "banten_admin") as admin:
        member_file = await admin.get("/v1/bpjs/member-file", params={"region": CILEGON, "year": 2025, "month": 3,
                                                                      "format": "csv"})
        assert member_file.status_code == 200 and items[0]["nik"] in member_file.text
        answer = await admin.post("/v1/bpjs/results", params={"region": CILEGON, "year": 2025},
                                  content=result_file.encode(), headers={"Content-Type": "text/csv"})
        assert (answer.json()["enrolled"], answer.json()["rejected"], answer.json()["mismatched"]) == (4, 1, 1)
        error_bodies += [answer.text, (await admin.get(answer.json()["report"], params={"format": "csv"})).text]

    async def rejected_released() -> bool:
        async with stack.client("enrolment") as c:
            return (await c.get(f"/v1/registrations/{items[4]['registration_id']}")).json()["status"] == "ended"
    await eventually(rejected_released, timeout=30)

    async def dead_lettered() -> bool:
        messages = await every_message(stack.settings.bootstrap_servers)
        # One original-hash header per dead letter of a message that was not a known event.
        return all(sum(1 for topic, text in messages if topic == t and text.startswith(b"dlq.original_sha256="))
                   == n for t, n in (("enrolment.dead-letter", 2), ("subsidy.dead-letter", 2),
                                     ("award.dead-letter", 4)))
    await eventually(dead_lettered, timeout=30)

    # Lag is reported every few seconds; wait until every consumer reports caught up.
    async def caught_up() -> str | None:
        async with stack.client("enrolment", None) as c:
            text = (await c.get("/metrics")).text
        lags = {s: metric(text, "paritrana_consumer_lag", service=s) for s in ("enrolment", "subsidy", "award")}
        return text if all(lags.values()) and not any(v for values in lags.values() for v in values) else None
    metrics_text = await eventually(caught_up, timeout=30)

    # --- the scan ---
    found = []
    for topic, text in await every_message(stack.settings.bootstrap_servers):
        if (topic, text) in injected:
            continue
        found += [f"topic {topic}: {leak}" for leak in leaks(text.decode(errors="replace"), needles)]
    found += [f"log: {leak}" for leak in leaks(lines.getvalue(), needles)]
    for service, server in stack.servers.items():
        async with server.client() as c:
            found += [f"{service} /metrics: {leak}" for leak in leaks((await c.get("/metrics")).text, needles)]
    for body in error_bodies:
        found += [f"error body: {leak}" for leak in leaks(body, needles)]
    assert not found, "\n".join(found)
    assert "dead-lettering" in lines.getvalue()  # the scan saw the services' logs, poison included

    # --- operational metrics, from the same run ---
    assert metric(metrics_text, "paritrana_outbox_backlog", service="enrolment") == [0.0]
    assert metric(metrics_text, "paritrana_outbox_backlog", service="subsidy") == [0.0]
    partitions = {line.split('partition="')[1].split('"')[0] for line in metrics_text.splitlines()
                  if line.startswith('paritrana_consumer_lag{') and 'service="award"' in line}
    assert partitions <= {str(p) for p in range(stack.settings.kafka_partitions)} and partitions
    for service, topic in (("award", "award.dead-letter"), ("subsidy", "subsidy.dead-letter"),
                           ("enrolment", "enrolment.dead-letter")):
        assert metric(metrics_text, "paritrana_dead_letters_total", service=service, topic=topic)[0] >= 2
    assert metric(metrics_text, "paritrana_decisions_total", outcome="granted")[0] >= 5
    assert metric(metrics_text, "paritrana_decisions_total", outcome="released")[0] >= 1
