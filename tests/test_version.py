"""One version everywhere: pyproject.toml's, in `cinema --version`, the start-up log, GET / and /metrics."""

from __future__ import annotations

import json
import subprocess
import tomllib
import urllib.request
from pathlib import Path

from scripts.testing.server_process import CINEMA, ROOT, ServerProcess, run_cinema


def test_the_same_version_everywhere(tmp_path: Path) -> None:
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    shown = subprocess.run([*CINEMA, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (shown.returncode, shown.stdout.strip()) == (0, f"cinema {wanted}")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert run_cinema(["migrate"], url).returncode == 0
    server = ServerProcess(url)
    try:
        server.wait_ready()
        with urllib.request.urlopen(f"{server.url}/", timeout=10) as response:
            assert json.loads(response.read())["version"] == wanted
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
            assert f'cinema_build_info{{version="{wanted}"}} 1.0' in response.read().decode()
        assert server.terminate() == 0
        started = [json.loads(line) for line in server.output().splitlines() if '"msg":"started"' in line]
        assert [line["version"] for line in started] == [wanted]
    finally:
        server.close()
