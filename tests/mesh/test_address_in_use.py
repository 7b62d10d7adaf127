"""`omega up` on a listen address that is taken says so in one line, names the setting, and exits
with status 2 (no traceback). Real command, real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_omega_up

OMEGA = str(Path(sys.executable).with_name("omega"))


@pytest.mark.parametrize("taken", ["http", "grpc"])
def test_omega_up_on_a_taken_address_fails_clearly(tmp_path: Path, taken: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        busy = f"127.0.0.1:{holder.getsockname()[1]}"
        env = dict(
            os.environ,
            OMEGA_DATA_DIR=str(tmp_path / "data"),
            OMEGA_GRPC_ADDR=busy if taken == "grpc" else "127.0.0.1:0",
            OMEGA_HTTP_ADDR=busy if taken == "http" else "127.0.0.1:0",
            OMEGA_LOG_LEVEL="WARNING",
        )
        done = subprocess.run(
            [OMEGA, "up"], env=env, capture_output=True, text=True, timeout=300, check=False
        )
    setting = "OMEGA_HTTP_ADDR" if taken == "http" else "OMEGA_GRPC_ADDR"
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"cannot listen for {'HTTP' if taken == 'http' else 'gRPC'} on" in done.stderr
    assert setting in done.stderr and busy.split(":")[1] in done.stderr
    assert "Traceback" not in done.stderr


def test_omega_up_on_a_data_folder_in_use_fails_clearly(tmp_path: Path) -> None:
    """A second `omega up` on the same data folder (the first holds its lock) says so."""
    import fcntl

    data = tmp_path / "data"
    data.mkdir()
    with (data / "omega.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running mesh holds
        done = run_omega_up(data)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"another OMEGA is running on {data}" in done.stderr
    assert "OMEGA_DATA_DIR" in done.stderr and "Traceback" not in done.stderr
