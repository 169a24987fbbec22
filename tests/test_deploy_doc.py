"""docs/DEPLOY.md's configurations run as written (ports, paths and the certificate changed to local ones): the
systemd unit verifies, and real nginx and HAProxy terminate TLS in front of a real `cinema serve`, redirect plain
HTTP, hide /_cluster/, and answer JSON 503 `busy` pages of their own when the service is down."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from scripts.testing.server_process import ROOT, ServerProcess, free_port, run_cinema
from web.setting_values import config_values
from web.settings import by_env

DOC = (ROOT / "docs/DEPLOY.md").read_text()
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def block(kind: str) -> str:
    found = re.findall(rf"^```{kind}\n(.*?)^```$", DOC, re.MULTILINE | re.DOTALL)
    assert len(found) == 1, kind
    return found[0]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(url: str) -> tuple[int, Message, bytes]:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=INSECURE), NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [*"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout".split(), key, "-out", cert],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServerProcess]:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert run_cinema(["migrate"], url).returncode == 0
    server = ServerProcess(url)
    server.wait_ready()
    yield server
    server.terminate()
    server.close()


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def check_the_front_door(http: int, https: int, service: ServerProcess) -> None:
    status, headers, _ = get(f"http://127.0.0.1:{http}/movies/")
    assert status == 308 and headers["Location"].startswith("https://"), (status, headers)
    status, headers, body = get(f"https://127.0.0.1:{https}/")
    assert status == 200 and "version" in json.loads(body), body
    assert "max-age=31536000" in headers.get("Strict-Transport-Security", "")
    assert get(f"https://127.0.0.1:{https}/_cluster/nodes")[0] == 404
    service.terminate()  # the service gone: the proxy's own page, JSON
    status, headers, body = get(f"https://127.0.0.1:{https}/movies/")
    assert (status, headers.get("Content-Type"), headers.get("Retry-After")) == (503, "application/json", "1")
    assert json.loads(body)["code"] == "busy"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "cinema.service"
    unit.write_text(block("ini").replace("/opt/cinema/.venv/bin/cinema", str(ROOT / ".venv/bin/cinema")))
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def test_the_nginx_front_as_written(tmp_path: Path, certificate: tuple[Path, Path], service: ServerProcess) -> None:
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed")
    http, https = free_port(), free_port()
    site = (
        block("nginx")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
        .replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl")
        .replace("127.0.0.1:8000", f"127.0.0.1:{service.port}")
        .replace("/etc/letsencrypt/live/tickets.example.com/fullchain.pem", str(certificate[0]))
        .replace("/etc/letsencrypt/live/tickets.example.com/privkey.pem", str(certificate[1]))
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};\n{site}\n}}\n"
    )
    nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for(f"https://127.0.0.1:{https}/healthz", nginx)
        check_the_front_door(http, https, service)
    finally:
        nginx.terminate()
        nginx.wait(10)


def test_the_haproxy_front_as_written(tmp_path: Path, certificate: tuple[Path, Path], service: ServerProcess) -> None:
    if not shutil.which("haproxy"):
        pytest.skip("haproxy is not installed")
    http, https = free_port(), free_port()
    (tmp_path / "both.pem").write_text(certificate[0].read_text() + certificate[1].read_text())
    (tmp_path / "busy.http").write_text(block("http"))
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(
        block("haproxy")
        .replace("bind :80", f"bind 127.0.0.1:{http}")
        .replace("bind :443", f"bind 127.0.0.1:{https}")
        .replace("/etc/haproxy/certs/tickets.example.com.pem", str(tmp_path / "both.pem"))
        .replace("/etc/haproxy/errors/cinema-busy.http", str(tmp_path / "busy.http"))
        .replace("127.0.0.1:8000", f"127.0.0.1:{service.port}")
        .replace("check inter 2s", "check inter 200ms")
    )
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_for(f"https://127.0.0.1:{https}/healthz", haproxy)
        time.sleep(0.5)  # the first health check passes
        check_the_front_door(http, https, service)
    finally:
        haproxy.terminate()
        haproxy.wait(10)


def test_the_config_file_examples_are_valid(tmp_path: Path) -> None:
    for document in (DOC, (ROOT / "docs/SETTINGS.md").read_text()):
        example = re.findall(r"^```toml\n(.*?)^```$", document, re.MULTILINE | re.DOTALL)
        assert len(example) == 1
        (tmp_path / "cinema.toml").write_text(example[0].replace("/var/lib/cinema", str(tmp_path)))
        values = config_values(str(tmp_path / "cinema.toml"), by_env())  # a bad key or value raises, naming it
        assert values["CINEMA_PORT"] == "8000"
