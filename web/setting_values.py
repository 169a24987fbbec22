"""One setting's description and the one parser every CINEMA_* value, flag and config-file key goes through, so
a bad value is always refused the same way: one line naming the variable (or flag, or file key) and the value."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.database import normalize_url, sqlite_path

PREFIX = "CINEMA_"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


class SettingError(ValueError):
    """A value the operator can fix; its text names the culprit (printed by `cinema` as one line)."""


@dataclass(frozen=True, slots=True)
class Setting:
    env: str  # CINEMA_PORT
    kind: str  # int, float, str, bool, list, port, database_url, timezone, path, choice:a|b
    default: object  # None: none, or computed (see `default_text`)
    meaning: str
    flag: str | None = None  # the `cinema serve` flag, when there is one
    field: str | None = None  # the Settings field it fills; None: read by the command or another layer
    secret: bool = False  # never printed
    default_text: str = ""  # shown in place of `default` when it is computed
    minimum: float | None = 0
    maximum: float | None = None
    reader: str = ""  # who reads a setting that is not a Settings field

    @property
    def key(self) -> str:
        """Its key in the config file: the variable without CINEMA_, in lower case (CINEMA_PORT: port)."""
        return self.env.removeprefix(PREFIX).lower()

    def shown_default(self) -> str:
        if self.default_text:
            return self.default_text
        if self.default in (None, "", ()):
            return "(none)"
        if isinstance(self.default, bool):
            return "1" if self.default else "0"
        return str(self.default)


def parse(setting: Setting, raw: object, source: str) -> object:
    """`raw` (text from the environment or a flag, or a TOML value) as the setting's type; `source` names where it
    came from (CINEMA_PORT, --port, cinema.toml: port) in the SettingError."""
    kind = setting.kind
    text = raw.strip() if isinstance(raw, str) else raw
    if kind == "database_url":
        return database_url(str(raw), source)
    if kind == "timezone":
        try:
            ZoneInfo(str(text))
        except (ValueError, ZoneInfoNotFoundError):
            raise SettingError(f"{source}={raw!r}: must be an IANA time zone such as Europe/London") from None
        return str(text)
    if kind in ("str", "path"):
        if not isinstance(text, str):
            raise SettingError(f"{source}={raw!r}: must be text")
        return text
    if kind.startswith("choice:"):
        choices = kind.removeprefix("choice:").split("|")
        if not isinstance(text, str) or text.lower() not in choices:
            raise SettingError(f"{source}={raw!r}: must be one of {', '.join(choices)}")
        return text.lower()
    if kind == "bool":
        if isinstance(text, bool):
            return text
        if isinstance(text, str) and text.lower() in TRUE + FALSE:
            return text.lower() in TRUE
        raise SettingError(f"{source}={raw!r}: must be 1 or 0 (true/false, yes/no, on/off)")
    if kind == "list":
        if isinstance(text, list | tuple):
            items = [str(item).strip() for item in text]
        elif isinstance(text, str):
            items = [item.strip() for item in text.split(",")]
        else:
            raise SettingError(f"{source}={raw!r}: must be a comma-separated list")
        return tuple(item for item in items if item)
    number = _number(setting, text, raw, source)
    low, high = (1, 65535) if kind == "port" else (setting.minimum, setting.maximum)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise SettingError(f"{source}={raw!r}: must be {bounds}")
    return number


def _number(setting: Setting, text: object, raw: object, source: str) -> int | float:
    whole = setting.kind in ("int", "port")
    unit = " of seconds" if setting.env.endswith(("_SECONDS", "_TIMEOUT")) else ""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        text = None
    try:
        if whole:
            if isinstance(text, float):
                raise ValueError
            return int(text)  # type: ignore[arg-type]
        value = float(text)  # type: ignore[arg-type]
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError
        return value
    except (TypeError, ValueError):
        wanted = "a whole number" if whole else "a number"
        raise SettingError(f"{source}={raw!r}: must be {wanted}{unit}") from None


def database_url(raw: str, source: str) -> str:
    """A URL this service can use, with the async driver picked; refused in one line otherwise. A SQLite file's
    folder must exist: a mistyped path is refused before anything is created."""
    text = raw.strip()
    if not text:
        raise SettingError(
            f"{source} is empty: give a database URL, e.g. sqlite:///cinema.db or postgresql://USER@HOST/DB"
        )
    try:
        url = make_url(normalize_url(text))
    except ArgumentError:
        raise SettingError(
            f"database URL {text!r} ({source}) is not usable: not a URL (sqlite:///PATH or postgresql://USER@HOST/DB)"
        ) from None
    shown = url.render_as_string(hide_password=True)
    if url.drivername not in SUPPORTED_DRIVERS:
        what = "database" if url.get_backend_name() not in ("sqlite", "postgresql") else "driver"
        raise SettingError(
            f"database URL {shown!r} ({source}) is not usable: unsupported {what} {url.drivername!r}; "
            "use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    rendered = url.render_as_string(hide_password=False)
    path = sqlite_path(rendered)
    if path is not None and not path.parent.is_dir():
        raise SettingError(
            f"database URL {shown!r} ({source}) is not usable: the folder {path.parent} does not exist "
            "(create it first; nothing was created)"
        )
    return rendered


def read_config_file(path: str) -> dict[str, object]:
    """The TOML file's keys and values, as written; a file that cannot be read or parsed is one SettingError."""
    try:
        with Path(path).open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise SettingError(f"CINEMA_CONFIG={path!r}: no such file") from None
    except OSError as error:
        raise SettingError(f"CINEMA_CONFIG={path!r}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingError(f"config file {path}: not valid TOML ({error})") from None


def config_values(path: str, table: Mapping[str, Setting]) -> dict[str, str]:
    """The file's settings as environment text by variable name (CINEMA_PORT: "8000"), each checked by `parse`;
    an unknown key is refused, naming it: a misspelt setting must not be silently ignored."""
    found: dict[str, str] = {}
    by_key = {setting.key: setting for setting in table.values()}
    for key, value in read_config_file(path).items():
        setting = by_key.get(key)
        if setting is None or setting.env == "CINEMA_CONFIG":
            raise SettingError(f"config file {path}: unknown setting {key!r} (`cinema settings` lists them)")
        parsed = parse(setting, value, f"config file {path}: {key}")
        if setting.kind == "bool":
            found[setting.env] = "1" if parsed else "0"
        elif setting.kind == "list":
            found[setting.env] = ",".join(parsed)  # type: ignore[arg-type]
        elif setting.kind == "database_url":
            found[setting.env] = str(value)
        else:
            found[setting.env] = str(parsed)
    return found
