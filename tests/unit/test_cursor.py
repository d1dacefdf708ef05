"""The signed pull cursor and its key (DESIGN §7): tamper-proof, bound to its user, one key per data dir."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest

from server.errors import DomainError
from server.settings import ROOT, settings_from
from sync import secret
from sync.cursor import Cursor, decode_cursor, encode_cursor
from sync.secret import cursor_key


def test_a_cursor_decodes_only_with_its_key_and_for_its_user() -> None:
    cursor = Cursor(user=7, since="10:12:11", keys=("grid:3", "user:7"))
    text = encode_cursor(cursor, b"key one")
    assert decode_cursor(text, b"key one", 7) == cursor
    for key, user in ((b"key two", 7), (b"key one", 8)):
        with pytest.raises(DomainError) as refused:
            decode_cursor(text, key, user)
        assert refused.value.code == "invalid_cursor" and refused.value.status == 400


def test_a_generated_secret_is_private_and_shared_by_every_process_of_a_data_dir(tmp_path) -> None:
    first = cursor_key(settings_from({"GRIDCASE_DATA_DIR": str(tmp_path)}))
    path = tmp_path / "cursor_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    # Another process (no cache) reads the same file.
    secret._key.cache_clear()
    assert cursor_key(settings_from({"GRIDCASE_DATA_DIR": str(tmp_path)})) == first
    other = cursor_key(settings_from({"GRIDCASE_DATA_DIR": str(tmp_path / "elsewhere")}))
    assert other != first
    configured = settings_from({"GRIDCASE_DATA_DIR": str(tmp_path), "GRIDCASE_CURSOR_SECRET": "s3cret"})
    assert cursor_key(configured) == b"s3cret"


def test_workers_starting_together_agree_on_one_generated_secret(tmp_path) -> None:
    code = (
        "import sys; from server.settings import ROOT, settings_from; from sync.secret import cursor_key; "
        "sys.stdout.write(cursor_key(settings_from({'GRIDCASE_DATA_DIR': sys.argv[1]})).decode())"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, cwd=ROOT)
        for _ in range(6)
    ]
    keys = {worker.communicate(timeout=60)[0] for worker in workers}
    assert len(keys) == 1 and keys != {b""}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cursor_secret"]
