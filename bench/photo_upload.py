"""Photo uploads (DESIGN §6): the server's streaming endpoint and presigned PUTs beside a raw copy.

Run: `.venv/bin/python bench/photo_upload.py` (BENCH_DATABASE_URL if set, else a throwaway
private cluster); `--photos 40` for a quick run. Sends `--photos` distinct real JPEGs of
`--size-mb` each, `--concurrency` at a time, from one client process, three ways:

1. raw copy: HTTP PUTs of the same bytes to a loopback server that reads and discards them
   (the ceiling: what the loopback, the client and one Python reader manage together);
2. server streaming: `POST /photos/slots`, then `PUT /photos/{id}/content` to the real app under
   uvicorn (local photo store), which hashes, stores, checks the image and makes its thumbnail;
3. presigned: `POST /photos/slots` to the app with a MinIO store, `PUT` to the presigned URL of a
   loopback `moto_server`, then `POST /photos/{id}/finish` (the server reads the bytes back once).

Prints MB/s of each (wall time over every request of the upload, slots included), the ratio of
each to the raw copy, the CPU the receiving server spent per photo (load on a shared machine
moves the wall time, much less this), and its peak RSS (VmHWM) after the first tenth of the photos
and after all of them: memory is flat when the two agree. Goal: the streaming endpoint at 80 % or more
of the raw copy, memory flat.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from PIL import Image  # noqa: E402

from server.db import migrate  # noqa: E402
from server.embedded.cluster import free_port, private_cluster  # noqa: E402

MB = 1024 * 1024
PASSWORD = "bench-photo-upload"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200, help="distinct photos sent each way")
    parser.add_argument("--size-mb", type=float, default=5.0, help="size of each photo")
    parser.add_argument("--concurrency", type=int, default=4, help="uploads in flight at once")
    parser.add_argument("--discard-on", type=int, help=argparse.SUPPRESS)  # the raw copy's server
    parser.add_argument("--serve-on", type=int, help=argparse.SUPPRESS)  # the app, on this port
    return parser.parse_args()


# --- photos -------------------------------------------------------------------------------------


def base_jpeg(size: int) -> bytes:
    """A real JPEG of about `size` bytes: noise barely compresses, so its side sets its size."""
    side = int((size / 1.9) ** 0.5)
    while True:
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        if out.tell() >= size * 0.97:
            return out.getvalue()
        side = int(side * (size / out.tell()) ** 0.5) + 1


def variant(base: bytes, n: int) -> bytes:
    """`base` with a JPEG comment (COM segment) naming `n` after its start marker: other bytes,
    another hash, the same valid image."""
    text = f"gridcase bench photo {n}".encode()
    return base[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + base[2:]


# --- the raw copy's server ----------------------------------------------------------------------


def discard_on(port: int) -> None:
    """An HTTP/1.1 server that reads each request body into one reused buffer and answers 204."""
    listener = socket.create_server(("127.0.0.1", port), backlog=128)

    def handle(conn: socket.socket) -> None:
        buffer = bytearray(256 * 1024)
        view = memoryview(buffer)
        pending = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in pending:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    pending += chunk
                head, _, pending = pending.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                left = length - len(pending)
                pending = b"" if left >= 0 else pending[length:]
                while left > 0:
                    got = conn.recv_into(view, min(left, len(buffer)))
                    if not got:
                        return
                    left -= got
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


# --- the app under uvicorn ----------------------------------------------------------------------


def serve_on(port: int) -> None:
    import uvicorn

    from server.app import create_app

    loop = "uvloop" if _importable("uvloop") else "asyncio"
    http = "httptools" if _importable("httptools") else "h11"
    config = uvicorn.Config(
        create_app(), host="127.0.0.1", port=port, log_level="warning", loop=loop, http=http
    )
    uvicorn.Server(config).run()


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def process(args: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A server subprocess, yielded once it accepts connections on `port`; stopped afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{args[-2:]} did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if b"Traceback" in log.read_bytes():
            print(f"the server logged errors:\n{log.read_text()[-3000:]}")


def app_server(port: int, workdir: Path, env: dict[str, str]) -> contextlib.AbstractContextManager:
    return process([sys.executable, __file__, "--serve-on", str(port)], port, workdir / "app.log", env)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the district -------------------------------------------------------------------------------


async def make_worker() -> str:
    """A district with one grid worker; returns the username (password `PASSWORD`)."""
    from server.db import close_pool, start_pool
    from server.districts import setup as seed

    await start_pool(max_size=2)
    try:
        district_id = await seed.create_district(f"photo-{os.getpid()}", "Photo bench district")
        unit = await seed.add_unit(district_id, "street", "Street office")
        username = f"photographer-{district_id}"
        await seed.add_user(district_id, username, "Photographer", "grid_worker", PASSWORD, unit_id=unit)
        return username
    finally:
        await close_pool()


def login(base: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{base}/auth/login", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def slot_body(data: bytes) -> dict:
    return {
        "kind": "evidence",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/jpeg",
        "lat": 31.2251,
        "lon": 121.4651,
        "accuracy_m": 3.0,
        "heading": 90.0,
        "taken_at": "2026-11-23T09:00:00+08:00",
    }


# --- the three ways -----------------------------------------------------------------------------

Send = Callable[[httpx.Client, bytes], None]


def raw_copy(base: str) -> Send:
    def send(client: httpx.Client, data: bytes) -> None:
        r = client.put(f"{base}/discard", content=data)
        assert r.status_code == 204, r.text

    return send


def through_server(base: str, headers: dict[str, str]) -> Send:
    def send(client: httpx.Client, data: bytes) -> None:
        r = client.post(f"{base}/photos/slots", headers=headers, json=slot_body(data))
        assert r.status_code == 201, r.text
        upload = r.json()["upload"]
        assert upload is not None and upload["finish_url"] is None, upload
        r = client.put(f"{base}{upload['url']}", headers=headers, content=data)
        assert r.status_code == 204, r.text

    return send


def presigned(base: str, headers: dict[str, str]) -> Send:
    def send(client: httpx.Client, data: bytes) -> None:
        r = client.post(f"{base}/photos/slots", headers=headers, json=slot_body(data))
        assert r.status_code == 201, r.text
        upload = r.json()["upload"]
        assert upload is not None and upload["finish_url"], upload
        r = client.put(upload["url"], content=data)
        assert r.status_code == 200, r.text
        r = client.post(f"{base}{upload['finish_url']}", headers=headers)
        assert r.status_code == 204, r.text

    return send


class Figures:
    def __init__(
        self, seconds: float, photos: list[bytes], cpu: float, early_rss: float, peak_rss: float
    ) -> None:
        self.seconds, self.total_bytes = seconds, sum(map(len, photos))
        self.cpu_ms_per_photo = cpu * 1000 / len(photos)
        self.early_rss, self.peak_rss = early_rss, peak_rss

    @property
    def mb_s(self) -> float:
        return self.total_bytes / MB / self.seconds


def run(send: Send, photos: list[bytes], concurrency: int, pid: int) -> Figures:
    """Send every photo, `concurrency` at a time, each thread with its own keep-alive client."""
    local = threading.local()
    clients: list[httpx.Client] = []
    early = max(1, len(photos) // 10)
    done = 0
    early_rss = float("nan")
    lock = threading.Lock()

    def one(data: bytes) -> None:
        nonlocal done, early_rss
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120)
            with lock:
                clients.append(local.client)
        send(local.client, data)
        with lock:
            done += 1
            if done == early:
                early_rss = peak_rss_mb(pid)

    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, photos))
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu
    for client in clients:
        client.close()
    return Figures(seconds, photos, cpu, early_rss, peak_rss_mb(pid))


def moto_server(workdir: Path) -> contextlib.AbstractContextManager:
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    if executable is None:
        raise SystemExit("moto_server not installed (pip install 'moto[s3,server]')")
    port = free_port()
    # Auth off: moto's auth mode breaks presigned requests (shared/STACK.md).
    env = {k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}
    return process([executable, "-H", "127.0.0.1", "-p", str(port)], port, workdir / "moto.log", env)


def bench(args: argparse.Namespace, url: str, workdir: Path) -> None:
    import asyncio

    size = int(args.size_mb * MB)
    print(f"making {args.photos} photos of {args.size_mb:g} MB …", flush=True)
    base = base_jpeg(size)
    photo_sets = [[variant(base, way * args.photos + i) for i in range(args.photos)] for way in range(3)]
    username = asyncio.run(make_worker())
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "GRIDCASE_PHOTO_DIR": str(workdir / "photos"),
        "GRIDCASE_PHOTO_MAX_BYTES": str(size * 2),
    }
    results: dict[str, Figures] = {}

    port = free_port()
    discard = [sys.executable, __file__, "--discard-on", str(port)]
    with process(discard, port, workdir / "discard.log", env) as discarding:
        results["raw loopback copy"] = run(
            raw_copy(f"http://127.0.0.1:{port}"), photo_sets[0], args.concurrency, discarding.pid
        )

    port = free_port()
    with app_server(port, workdir, env) as server:
        app = f"http://127.0.0.1:{port}"
        results["server streaming PUT"] = run(
            through_server(app, login(app, username)), photo_sets[1], args.concurrency, server.pid
        )

    with moto_server(workdir) as moto:
        moto_port = int(moto.args[-1])
        minio_env = {
            **env,
            "GRIDCASE_PHOTO_STORE": "minio",
            "MINIO_ENDPOINT": f"127.0.0.1:{moto_port}",
            "MINIO_ACCESS_KEY": "bench",
            "MINIO_SECRET_KEY": "benchbench",
            "MINIO_BUCKET": "bench-photos",
        }
        port = free_port()
        with app_server(port, workdir, minio_env) as server:
            app = f"http://127.0.0.1:{port}"
            results["presigned PUT (moto) + finish"] = run(
                presigned(app, login(app, username)), photo_sets[2], args.concurrency, server.pid
            )

    raw = results["raw loopback copy"].mb_s
    loop = "uvloop" if _importable("uvloop") else "asyncio"
    http = "httptools" if _importable("httptools") else "h11"
    print(
        f"\n{args.photos} photos of {len(base) / MB:.2f} MB, {args.concurrency} in flight; "
        f"uvicorn ({loop} + {http}, 1 process); {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'':32} {'MB/s':>8} {'of raw':>7} {'s':>7} {'server CPU ms/photo':>20} "
        f"{'RSS@10% MB':>11} {'peak RSS MB':>12}"
    )
    for name, f in results.items():
        print(
            f"{name:32} {f.mb_s:8.0f} {f.mb_s / raw:7.0%} {f.seconds:7.1f} {f.cpu_ms_per_photo:20.1f} "
            f"{f.early_rss:11.0f} {f.peak_rss:12.0f}"
        )
    # What no upload path can avoid: decoding every byte once to know it is an image (DESIGN §6).
    from server.photos.images import check_image

    started = time.thread_time()
    check_image(io.BytesIO(base))
    check_ms = (time.thread_time() - started) * 1000
    print(f"of which checking the image and making its thumbnail: {check_ms:.1f} ms CPU per photo")


def main() -> None:
    args = parse_args()
    if args.discard_on:
        return discard_on(args.discard_on)
    if args.serve_on:
        return serve_on(args.serve_on)
    with tempfile.TemporaryDirectory(prefix="photo-upload-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        cluster = None
        url = os.environ.get("BENCH_DATABASE_URL")
        if not url:
            cluster, url = private_cluster(workdir / "postgres", "photo_upload", durable=False)
        try:
            # Piccolo's engine reads DATABASE_URL when the tables are first imported.
            os.environ["DATABASE_URL"] = url
            migrate(url)
            bench(args, url, workdir)
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
