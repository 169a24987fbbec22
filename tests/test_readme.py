"""The README, walked as a newcomer walks it: the demo started as its first command says, then every `bash` block
in order, in one fresh shell (no venv on PATH, no CINEMA_* variables), against the demo data; `console` blocks
run too and must print what the README shows.

The blocks are read from README.md itself, so sections added later are covered without touching this test.
What the harness adds, and why: a temporary folder that links to the project (so `./cinema.db` is new), cheap
bcrypt for the server (speed only), and `curl` made to fail on an HTTP error (`--fail-with-body`), so a 4xx stops
the walk; a stream read with `--max-time` may end there. The README's port, 8000, is used as written (some
commands rely on it as their default); walks on one machine take turns through a lock file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.testing.server_process import ROOT

PORT = 8000  # as the README says
LOCK = Path("/tmp/cinema-readme-walk.lock")

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
CONSOLE = re.compile(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", re.MULTILINE)  # a command, then what it prints
PROJECT_ENTRIES = ("README.md", "pyproject.toml", "scripts", ".venv", "engine", "storage", "web", "docs")
CURL_THAT_FAILS_ON_HTTP_ERRORS = """
curl() {
  command curl --fail-with-body "$@" && return 0
  local status=$?
  if [ "$status" -eq 28 ] && [[ " $* " == *" --max-time "* ]]; then echo; return 0; fi  # a stream, read until the limit
  return "$status"
}
"""


@dataclass(frozen=True)
class Block:
    kind: str  # bash, console, sh ...
    text: str
    line: int  # where it starts in README.md


def readme_blocks(text: str) -> list[Block]:
    return [Block(m[1], m[2], text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def walk_script(blocks: list[Block]) -> tuple[str, dict[str, str]]:
    """One bash script for the walk, with a marker before each command group, and the console output expected."""
    parts = ["set -eo pipefail", CURL_THAT_FAILS_ON_HTTP_ERRORS]
    expected: dict[str, str] = {}
    for block in blocks:
        if block.kind == "bash":
            parts += [f"printf '\\n@@@ README line {block.line}\\n'", block.text]
        elif block.kind == "console":
            for number, (command, output) in enumerate(re.findall(CONSOLE, block.text)):
                marker = f"README line {block.line} console {number}"
                parts += [f"printf '\\n@@@ {marker}\\n'", f"{command} || true"]
                expected[marker] = output.strip()
    parts.append("printf '\\n@@@ END\\n'")
    return "\n".join(parts) + "\n", expected


def sections(output: str) -> dict[str, str]:
    pieces = re.split(r"^@@@ (.*)$", output, flags=re.MULTILINE)
    return {pieces[i]: pieces[i + 1].strip() for i in range(1, len(pieces) - 1, 2)}


@pytest.fixture
def newcomer_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder that looks like a fresh clone with its venv set up, but whose ./cinema.db is new."""
    folder = tmp_path / "clone"
    folder.mkdir()
    for name in PROJECT_ENTRIES:
        (folder / name).symlink_to(ROOT / name)
    yield folder


def fresh_env(folder: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(folder), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TERM": "dumb", **extra}


@pytest.fixture
def readme_port() -> Iterator[int]:
    """Port 8000, once no other README walk on this machine holds it."""
    with LOCK.open("w") as lock:
        deadline = time.monotonic() + 600  # for the lock and then for the port
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "another README walk held the lock for 10 minutes"
                time.sleep(0.5)
        while not port_is_free(PORT):  # someone's demo, perhaps: give it a while before failing
            if time.monotonic() > deadline:
                pytest.fail(f"port {PORT} is taken by something else: the README's examples need it")
            time.sleep(1)
        yield PORT


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def venv_is_current() -> bool:
    """The walk must not install anything: an install from the linked folder would write its path into the venv's
    scripts. ./scripts/test installs first, so this holds there."""
    digest = hashlib.sha1((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    return any((ROOT / ".venv" / f".installed-{digest}-{extras}").exists() for extras in ("base", "test"))


def test_the_readme_works_as_written(newcomer_folder: Path, readme_port: int) -> None:
    assert venv_is_current(), "the venv is behind pyproject.toml: run ./scripts/test (it installs first)"
    readme = (ROOT / "README.md").read_text()
    port = readme_port
    blocks = readme_blocks(readme)
    first = blocks[0].text.splitlines()[0].split("#")[0].strip()
    assert first == "./scripts/demo", "the README's first command starts the demo"
    assert sum(block.kind == "bash" for block in blocks) >= 5

    log = (newcomer_folder / "demo.log").open("w")
    demo = subprocess.Popen(
        ["bash", "-c", first],
        cwd=newcomer_folder,
        env=fresh_env(newcomer_folder, CINEMA_BCRYPT_ROUNDS="4"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", demo, newcomer_folder / "demo.log")
        script, expected = walk_script(blocks)
        (newcomer_folder / "walk.sh").write_text(script)
        walk = subprocess.run(
            ["bash", "walk.sh"],
            cwd=newcomer_folder,
            env=fresh_env(newcomer_folder),
            capture_output=True,
            text=True,
            timeout=600,
        )
        found = sections(walk.stdout)
        last = list(found)[-1] if found else "the start"
        assert walk.returncode == 0, f"failed in {last}:\n{walk.stdout[-3000:]}\n{walk.stderr[-3000:]}"
        assert "END" in found
        for marker, output in expected.items():
            assert found[marker] == output, f"{marker}: the README shows\n{output}\nbut it printed\n{found[marker]}"
        assert "Traceback" not in walk.stderr, walk.stderr
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
        assert demo.wait(30) == 0, (newcomer_folder / "demo.log").read_text()[-2000:]
        log.close()
    demo_log = (newcomer_folder / "demo.log").read_text()
    assert "serving on" in demo_log and '"msg":"stopped"' in demo_log, demo_log[-2000:]
    assert '"msg":"refused"' in demo_log  # the console examples' refusals were logged
    assert "Traceback" not in demo_log, demo_log


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the demo did not answer within {timeout} s:\n{log.read_text()}")


def test_the_walk_reads_every_bash_block_from_the_readme() -> None:
    blocks = readme_blocks((ROOT / "README.md").read_text())
    script, expected = walk_script(blocks)
    for block in blocks:
        if block.kind == "bash":
            assert block.text in script
    commands = sum(
        block.text.count("\n$ ") + block.text.startswith("$ ") for block in blocks if block.kind == "console"
    )
    assert len(expected) == commands >= 3 and all(output.startswith("{") for output in expected.values())
    assert shutil.which("curl"), "the README uses curl"
