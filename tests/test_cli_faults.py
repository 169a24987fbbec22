"""Operator mistakes on the `cinema` command line: one line naming the culprit, exit status 2, and nothing left
behind (real processes in a scratch folder; every bad value of every setting is checked in-process too)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts.testing.server_process import CINEMA, ROOT, cinema_env, free_port
from web.setting_values import SettingError
from web.settings import resolve, settings_table


def cinema(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`cinema ARGS` run in `folder`, on its ./cinema.db unless the arguments or `env` say otherwise."""
    environment = cinema_env("sqlite:///cinema.db")
    environment.pop("CINEMA_DATABASE_URL")  # the folder's ./cinema.db is the default
    environment.update(env)
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [*CINEMA, *args], env=environment, cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )


def one_line_fault(result: Any) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cinema: "), result.stderr
    assert "serving on" not in result.stdout
    return lines[0]


CASES = [
    (["serve"], {"CINEMA_PORT": "abc"}, ["CINEMA_PORT", "'abc'", "whole number"]),
    (["serve", "--port", "70000"], {}, ["--port", "70000", "65535"]),
    (["serve", "--port", "abc"], {}, ["--port", "'abc'"]),
    (["serve", "--database-url", "mysql://root@127.0.0.1/cinema"], {}, ["unsupported database 'mysql'"]),
    (["migrate", "--database-url", "mysql://root@127.0.0.1/cinema"], {}, ["unsupported database 'mysql'"]),
    (["serve", "--host", "10.9.9.9"], {}, ["cannot listen on 10.9.9.9:", "--host"]),
    (["serve", "--database-url", ""], {}, ["--database-url is empty"]),
    (["serve"], {"CINEMA_HOLD_SECONDS": "five"}, ["CINEMA_HOLD_SECONDS", "'five'"]),
    (["migrate"], {"CINEMA_MAX_SEATS_PER_USER": "ten"}, ["CINEMA_MAX_SEATS_PER_USER", "'ten'"]),
    (["serve"], {"CINEMA_LOCK_TIMEOUT_MS": "-1"}, ["CINEMA_LOCK_TIMEOUT_MS", "at least 0"]),
    (["serve"], {"CINEMA_EVENT_LOOP": "trio"}, ["CINEMA_EVENT_LOOP", "uvloop, asyncio"]),
]


@pytest.mark.parametrize(("args", "env", "expected"), CASES, ids=[" ".join(c[0]) + str(c[1]) for c in CASES])
def test_a_bad_value_is_one_line_naming_it_and_creates_nothing(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: list[str]
) -> None:
    if "--port" not in args:
        args = [*args, "--port", str(free_port())] if args[0] == "serve" and "CINEMA_PORT" not in env else args
    line = one_line_fault(cinema(tmp_path, *args, **env))
    for text in expected:
        assert text in line, line
    assert "database" not in line or "database" in " ".join(expected), line  # never blamed on the database
    assert "sqlite+aiosqlite:///cinema.db" not in line  # the default is not the culprit
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("setting", [s for s in settings_table() if s.kind in ("int", "float", "port", "bool")])
def test_every_bad_number_or_switch_names_its_variable(setting: Any) -> None:
    with pytest.raises(SettingError) as refused:
        resolve(environ={setting.env: "five"})
    assert str(refused.value).startswith(f"{setting.env}='five': must be")


def test_a_sqlite_path_in_a_missing_folder_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/x.db"
    for args in (["serve", "--port", str(free_port())], ["migrate"], ["seed-demo"], ["serve", "--migrate"]):
        line = one_line_fault(cinema(tmp_path, *args, CINEMA_DATABASE_URL=url))
        assert f"the folder {tmp_path}/no/such/dir does not exist" in line, line
        assert "CINEMA_DATABASE_URL" in line
    assert list(tmp_path.iterdir()) == []


def test_a_failed_start_leaves_no_new_files(tmp_path: Path) -> None:
    # An empty database: refused (run `cinema migrate`) without creating the file or a signing secret.
    assert "run `cinema migrate`" in one_line_fault(cinema(tmp_path, "serve", "--port", str(free_port())))
    assert "run `cinema migrate`" in one_line_fault(cinema(tmp_path, "seed-demo"))
    assert list(tmp_path.iterdir()) == []
    assert cinema(tmp_path, "migrate").returncode == 0
    made = sorted(path.name for path in tmp_path.iterdir())
    assert "cinema.db" in made and not any(name.endswith(".jwt-secret") for name in made), made
    with socket.socket() as taken:  # a port in use: refused, and still no secret
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        line = one_line_fault(cinema(tmp_path, "serve", "--port", str(taken.getsockname()[1])))
    assert "already in use" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == made
