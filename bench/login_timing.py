"""Log-in timing (issue 18 item 21): an unknown username must cost what a wrong password costs.

Run: `.venv/bin/python bench/login_timing.py` (BENCH_DATABASE_URL if set, else a throwaway
private cluster); `--rounds 30`. Logs in through the app in-process (ASGI, no socket) with the
production Argon2 parameters (the settings' defaults), alternating a wrong password for a real
user with an unknown username, and prints the median and 90th percentile of each in ms, their
ratio, and a right password's time (the same verification, plus the token). Goal: ratio near 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.db import migrate  # noqa: E402
from server.embedded.cluster import private_cluster  # noqa: E402

PASSWORD = "bench-login-timing"


async def bench(rounds: int) -> None:
    import httpx

    from server.accounts.passwords import hash_password
    from server.app import create_app
    from server.db import close_pool, start_pool
    from server.districts import setup as seed
    from server.settings import Settings
    from server.tables import User

    # Production cost; throttling out of the way, since every attempt here fails on purpose.
    settings = Settings(login_max_failures=10**6, login_max_failures_per_address=10**6)
    await start_pool(max_size=4)
    try:
        district_id = await seed.create_district(f"login-{os.getpid()}", "Login bench district")
        username = f"bench-{os.getpid()}"
        await seed.add_user(district_id, username, "Bench", "agent", PASSWORD)
        # Stored at production cost (the seed hashes at whatever the environment sets).
        await User.update({User.password_hash: hash_password(PASSWORD, settings)}).where(
            User.username == username
        )
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:

            async def once(name: str, password: str) -> float:
                start = time.perf_counter()
                await c.post("/auth/login", json={"username": name, "password": password})
                return (time.perf_counter() - start) * 1000

            await once(username, "warm-up")
            wrong, unknown, right = [], [], []
            for i in range(rounds):
                wrong.append(await once(username, f"guess-{i}"))
                unknown.append(await once(f"nobody-{i}", f"guess-{i}"))
                right.append(await once(username, PASSWORD))
    finally:
        await close_pool()

    def figures(ms: list[float]) -> str:
        p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1]
        return f"median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms"

    print(
        f"Argon2id t={settings.argon2_time_cost} m={settings.argon2_memory_kib} KiB "
        f"p={settings.argon2_parallelism}"
    )
    print(f"wrong password    {figures(wrong)}")
    print(f"unknown username  {figures(unknown)}")
    print(f"right password    {figures(right)}")
    print(f"unknown / wrong   {statistics.median(unknown) / statistics.median(wrong):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gridcase-login-bench-"))
    os.chmod(workdir, 0o755)
    cluster = None
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        cluster, url = private_cluster(workdir / "postgres", "login_timing", durable=False)
    try:
        # Piccolo's engine reads DATABASE_URL when the tables are first imported.
        os.environ["DATABASE_URL"] = url
        migrate(url)
        asyncio.run(bench(args.rounds))
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
