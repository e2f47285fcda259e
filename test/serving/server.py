"""Running ``bin.serve`` for a test: a subprocess on loopback and a free port, stopped (SIGTERM)
when the test is done."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextlib.contextmanager
def running_server(packages: list[Path], *options: str, timeout: float = 120) -> Iterator[Server]:
    cmd = [sys.executable, "-m", "espnet2_speechprompt.bin.serve", "--port", "0",
           "--packages", *map(str, packages), *options]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    log = tempfile.TemporaryFile("w+")  # the server's log (a pipe could fill and block it)
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        deadline, line = time.monotonic() + timeout, ""
        while "serving tasks" not in line:
            ready, _, _ = select.select(
                [process.stdout], [], [], max(0.0, deadline - time.monotonic())
            )
            if not ready or process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the server did not start: {log.read()[-2000:]}")
            line = process.stdout.readline()
        yield Server(line.rsplit(" on ", 1)[1].strip().rstrip("/"), process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        process.stdout.close()
        log.close()
