"""Settings in one place: every CINEMA_* variable the code reads is in docs/SETTINGS.md (generated from
web/settings.py, never stale), `cinema settings` says each value's source with secrets masked, and the optional
TOML file (CINEMA_CONFIG) sits under the environment and the flags; a bad file or key is one line."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from scripts.settings_table import settings_markdown
from scripts.testing.server_process import CINEMA, ROOT, cinema_env, free_port
from web.settings import TEST_SETTINGS, settings_table

VARIABLE = re.compile(r"CINEMA_[A-Z0-9_]*[A-Z0-9]")
SOURCES = ("engine", "web", "storage", "scripts", "tests", ".ci")


def variables_in_the_code() -> dict[str, str]:
    """Every CINEMA_* name in the project's source (Python, shell scripts, CI), with one file that has it."""
    found: dict[str, str] = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix not in ("", ".py", ".sh", ".toml"):
                continue
            if path.name == Path(__file__).name:
                continue  # this test's own examples
            for name in VARIABLE.findall(path.read_text(errors="replace")):
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_every_variable_the_code_reads_is_documented() -> None:
    documented = set(re.findall(r"^\| `(CINEMA_[A-Z0-9_]+)`", (ROOT / "docs/SETTINGS.md").read_text(), re.M))
    missing = {name: where for name, where in variables_in_the_code().items() if name not in documented}
    assert not missing, f"CINEMA_* variables not in docs/SETTINGS.md (add them to web/settings.py): {missing}"
    assert len(documented) >= 40


def test_the_settings_document_is_generated_and_current() -> None:
    assert (ROOT / "docs/SETTINGS.md").read_text() == settings_markdown(), (
        "docs/SETTINGS.md is stale: run `cinema settings --markdown > docs/SETTINGS.md`"
    )
    for setting in (*settings_table(), *TEST_SETTINGS):
        assert setting.meaning.strip(), f"{setting.env} has no meaning: give its field a comment in web/settings.py"
    readme = (ROOT / "README.md").read_text()
    assert "(docs/SETTINGS.md)" in readme


def cinema(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`cinema ARGS` in `folder` (its ./cinema.db), with no CINEMA_* variable but `env`'s."""
    environment = {k: v for k, v in cinema_env("").items() if not k.startswith("CINEMA_")}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([*CINEMA, *args], env=environment, cwd=folder, capture_output=True, text=True, timeout=60)


def table(output: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in output.splitlines():
        name, value, source = re.split(r"\s{2,}", line.strip(), maxsplit=2)
        rows[name] = (value, source)
    return rows


def test_cinema_settings_says_where_each_value_came_from_with_secrets_masked(tmp_path: Path) -> None:
    config = tmp_path / "cinema.toml"
    config.write_text(
        "port = 9001\nhold_seconds = 120\nmax_seats_per_user = 4\nlogins_per_address = 50\naccess_log = true\n"
    )
    shown = cinema(
        tmp_path,
        "settings",
        "--port",
        "9002",
        CINEMA_CONFIG=str(config),
        CINEMA_HOLD_SECONDS="90",
        CINEMA_JWT_SECRET="jwt-very-secret-value",
        CINEMA_CLUSTER_SECRET="cluster-very-secret-value",
    )
    assert shown.returncode == 0, shown.stderr
    assert "very-secret" not in shown.stdout + shown.stderr
    rows = table(shown.stdout)
    assert rows["CINEMA_PORT"] == ("9002", "flag --port")  # the flag over the file
    assert rows["CINEMA_HOLD_SECONDS"] == ("90.0", "environment")  # the environment over the file
    assert rows["CINEMA_MAX_SEATS_PER_USER"] == ("4", f"config file {config}")
    assert rows["CINEMA_LOGINS_PER_ADDRESS"] == ("50", f"config file {config}")
    assert rows["CINEMA_ACCESS_LOG"] == ("1", f"config file {config}")
    assert rows["CINEMA_CANCEL_CUTOFF_MINUTES"] == ("30", "default")
    assert rows["CINEMA_JWT_SECRET"] == ("********", "environment")
    assert rows["CINEMA_CLUSTER_SECRET"] == ("********", "environment")
    assert rows["CINEMA_NODE_URL"] == ("http://127.0.0.1:9002", "default")
    assert set(rows) == {setting.env for setting in settings_table()}
    assert not list(tmp_path.glob("cinema.db*")), "printing the settings creates nothing"


def test_the_config_file_reaches_the_running_service(tmp_path: Path) -> None:
    """The file's database, port and per-customer cap are what `cinema serve` uses."""
    config, port = tmp_path / "cinema.toml", free_port()
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "c.db"}"\nport = {port}\nmax_seats_per_user = 1\nbcrypt_rounds = 4\n'
    )
    for command in ("migrate", "seed-demo"):
        assert cinema(tmp_path, command, CINEMA_CONFIG=str(config)).returncode == 0
    shown = table(cinema(tmp_path, "settings", CINEMA_CONFIG=str(config)).stdout)
    assert shown["CINEMA_DATABASE_URL"] == (f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", f"config file {config}")
    environment = {k: v for k, v in cinema_env("").items() if not k.startswith("CINEMA_")}
    environment.update(CINEMA_CONFIG=str(config), PYTHONPATH=str(ROOT))
    server = subprocess.Popen([*CINEMA, "serve"], env=environment, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert f"serving on http://127.0.0.1:{port}/" in (server.stdout.readline() if server.stdout else "")
        base = f"http://127.0.0.1:{port}"
        _, tokens = call("POST", f"{base}/login", {"username": "demo", "password": "demo-password"})
        headers = {"Authorization": f"Bearer {tokens['access']}"}
        assert call("POST", f"{base}/shows/2/book/", {"seat_number": 1}, headers)[0] == 201
        status, refused = call("POST", f"{base}/shows/2/book/", {"seat_number": 2}, headers)
        assert (status, refused["code"]) == (409, "seat_limit")
    finally:
        server.terminate()
        assert server.wait(30) == 0
    assert not (tmp_path / "cinema.db").exists()


def call(method: str, url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode(), headers=headers or {})
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cinema: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_a_bad_config_file_or_key_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "cinema.toml"
    cases = {
        "port = [1, 2\n": "not valid TOML",
        "prot = 8000\n": "unknown setting 'prot'",
        'hold_seconds = "five"\n': f"config file {config}: hold_seconds='five': must be a number of seconds",
        "port = 70000\n": "port=70000: must be from 1 to 65535",
        'database_url = "mysql://root@127.0.0.1/cinema"\n': "unsupported database 'mysql'",
    }
    for (text, expected), command in zip(
        cases.items(), itertools.cycle(("serve", "migrate", "settings")), strict=False
    ):
        config.write_text(text)
        line = one_line(cinema(tmp_path, command, CINEMA_CONFIG=str(config)))
        assert expected in line and str(config) in line, line
    assert f"CINEMA_CONFIG='{tmp_path}/nope.toml': no such file" in one_line(
        cinema(tmp_path, "serve", CINEMA_CONFIG=str(tmp_path / "nope.toml"))
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cinema.toml"]
