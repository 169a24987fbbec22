"""The service's one version: pyproject.toml's, as installed (`cinema --version`, the logs, GET / and /metrics)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "cinema-booking"  # pyproject.toml's [project] name


def installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


VERSION = installed_version()
