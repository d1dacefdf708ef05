"""`gridcase worker` as a process: one pass on the demo district, and a worker killed mid-send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from notify.rules import NotifyConfig, not_before
from notify.worker import run_pass
from server.calendar.lights import light_sql
from server.db import fetch
from server.demo.district import DISTRICT_CODE, load_demo
from server.settings import ROOT, Settings
from server.tables import Alert, District, Unit
from tests.notify.receiver import Receiver
from tests.notify.test_alerts import alerts, dispatched

GRIDCASE = [sys.executable, "-m", "server.cli"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "GRIDCASE_LOAD_DEMO": "0", **extra}


async def _outbox_levels(district_id: int) -> list[tuple[str, str]]:
    rows = await fetch(
        "SELECT a.case_id::text AS case_id, a.level FROM outbox_messages o "
        "JOIN alerts a ON a.id = o.alert_id "
        "WHERE o.district_id = {} ORDER BY o.id",
        district_id,
    )
    return [(r["case_id"], r["level"]) for r in rows]


async def test_one_pass_on_the_demo_puts_one_yellow_per_yellow_case_and_one_red_per_red_case(
    client, tmp_path
) -> None:
    await District.delete().where(District.code == DISTRICT_CODE)
    await load_demo(Settings(photo_dir=str(tmp_path)))
    district = (await District.select(District.id).where(District.code == DISTRICT_CODE).first())["id"]
    lights = await fetch(
        f"SELECT id::text AS id, {light_sql()} AS light FROM cases "
        "WHERE district_id = {} AND status IN ('dispatched', 'accepted', 'on_site')",
        district,
    )
    yellow = sorted(r["id"] for r in lights if r["light"] == "yellow")
    red = sorted(r["id"] for r in lights if r["light"] == "red")
    assert yellow and red

    started = time.monotonic()
    done = subprocess.run(
        [*GRIDCASE, "worker", "--once"], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took < 60

    recorded = await Alert.select(Alert.case_id, Alert.level).where(Alert.district_id == district)
    assert sorted(str(r["case_id"]) for r in recorded if r["level"] == "yellow") == yellow
    assert sorted(str(r["case_id"]) for r in recorded if r["level"] == "red") == red
    sent = await _outbox_levels(district)
    assert sorted(c for c, level in sent if level == "red") == red
    # Yellow waits for the morning when the pass ran during the night (quiet hours, DESIGN §5).
    held = not_before("yellow", datetime.now(UTC), NotifyConfig(), "Asia/Shanghai") > datetime.now(UTC)
    assert sorted(c for c, level in sent if level == "yellow") == ([] if held else yellow)

    again = subprocess.run(
        [*GRIDCASE, "worker", "--once"], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert await _outbox_levels(district) == sent
    assert len(await Alert.select(Alert.id).where(Alert.district_id == district)) == len(recorded)


async def test_a_worker_killed_mid_send_loses_nothing(client, login, world) -> None:
    receiver = Receiver(hold=threading.Event()).start()
    try:
        await _killed_mid_send(client, login, world, receiver)
    finally:
        receiver.hold.set()  # type: ignore[union-attr]
        receiver.stop()


async def _killed_mid_send(client, login, world, receiver: Receiver) -> None:
    await Unit.update({Unit.leader_notify_url: receiver.url("leader")}).where(
        Unit.id == world.units["bureau"]
    )
    await District.update({District.notify: {"quiet_start": "00:00", "quiet_end": "00:00"}}).where(
        District.id == world.district_id
    )
    case = await dispatched(client, login, world, complainant_name="", complainant_phone="")
    # The warning window opened an hour ago on the real clock, which the worker process reads.
    await fetch(
        "UPDATE cases SET warn_at = now() - interval '1 hour', next_alert_at = now() - interval '1 hour' "
        "WHERE id = {}",
        case["id"],
    )
    lease = 4.0
    worker = subprocess.Popen(
        [*GRIDCASE, "worker"],
        cwd=ROOT,
        env=_env(GRIDCASE_ALERT_LEASE_SECONDS=str(lease), GRIDCASE_ALERT_INTERVAL_SECONDS="0.2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert receiver.arrived.wait(60), "the worker never sent"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    receiver.hold.set()  # type: ignore[union-attr]  # the receiver took the message; its sender is gone
    killed_at = datetime.now(UTC)

    [yellow] = await alerts(client, login, case_id=case["id"], level="yellow")
    assert (yellow["status"], yellow["attempts"]) == ("pending", 1)
    await run_pass(killed_at)  # the dead worker's lease still holds: nobody takes the row
    [yellow] = await alerts(client, login, case_id=case["id"], level="yellow")
    assert yellow["status"] == "pending"
    await run_pass(killed_at + timedelta(seconds=lease + 1))
    [yellow] = await alerts(client, login, case_id=case["id"], level="yellow")
    assert (yellow["status"], yellow["attempts"]) == ("sent", 2)
    # At least once across a crash: the message in flight when the worker died arrives twice.
    deadline = time.monotonic() + 5
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p, _ in receiver.received] == ["/leader", "/leader"]
