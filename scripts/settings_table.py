"""`cinema settings`: every setting's effective value and its source, and the Markdown table of docs/SETTINGS.md,
both from the one table in web/settings.py."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import make_url

from web.cluster.membership import default_node_url
from web.setting_values import Setting
from web.settings import TEST_SETTINGS, resolve, secret_path, settings_table

MASK = "********"


def shown_value(setting: Setting, value: object, values: Mapping[str, object]) -> str:
    """A value as an operator types it; secrets masked, a database password hidden."""
    if setting.secret:
        if value:
            return MASK
        if setting.env == "CINEMA_JWT_SECRET":
            path = secret_path(str(values["CINEMA_DATABASE_URL"]))
            return f"(kept in {path})" if path.exists() else f"(made at the first start in {path})"
        return "(unset)"
    if setting.env == "CINEMA_NODE_URL" and not value:
        return default_node_url(str(values["CINEMA_HOST"]), int(values["CINEMA_PORT"]))  # type: ignore[call-overload]
    if setting.kind == "database_url" and value:
        return make_url(str(value)).render_as_string(hide_password=True)
    if value is None or value == "" or value == ():
        return setting.shown_default() if setting.default_text else "(none)"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def effective_settings(flags: Mapping[str, object]) -> str:
    resolved = resolve(flags)
    values = {setting.env: value for setting, (value, _) in resolved.items()}
    rows = [(s.env, shown_value(s, value, values), source) for s, (value, source) in resolved.items()]
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    return "".join(f"{name:<{width[0]}}  {value:<{width[1]}}  {source}\n" for name, value, source in rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(settings: tuple[Setting, ...], with_flag: bool) -> list[str]:
    lines = ["| Variable | Flag | Default | Meaning |" if with_flag else "| Variable | Default | Meaning |"]
    lines.append("|---|---|---|---|" if with_flag else "|---|---|---|")
    for setting in settings:
        meaning = setting.meaning + (" (secret: never printed)" if setting.secret else "")
        if setting.reader:
            meaning += f" (read by {setting.reader})"
        cells = [f"`{setting.env}`"]
        if with_flag:
            cells.append(f"`{setting.flag}`" if setting.flag else "")
        cells += [f"`{setting.shown_default()}`", meaning]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def settings_markdown() -> str:
    lines = [
        "# Settings",
        "",
        "<!-- Generated from web/settings.py by `cinema settings --markdown > docs/SETTINGS.md`; do not edit. -->",
        "",
        "Every setting of the service, with its environment variable, its `cinema serve` flag where there is one,",
        "its default and what it does. Flags override the environment, which overrides the optional config file,",
        "which overrides the defaults. `cinema settings` (it takes the flags of `cinema serve`) prints the",
        "effective value of each and where it came from; secrets are masked. An empty variable counts as unset.",
        "A bad value stops `cinema` with one line naming the variable (or flag, or file key) and exit status 2.",
        "",
        "## The config file",
        "",
        "`CINEMA_CONFIG=/etc/cinema/cinema.toml` names a TOML file whose keys are the variables' names without",
        "`CINEMA_`, in lower case; a key it does not know is refused, naming it:",
        "",
        "```toml",
        'database_url = "postgresql://cinema@127.0.0.1/cinema"',
        'host = "127.0.0.1"',
        "port = 8000",
        "max_seats_per_user = 10",
        "hold_seconds = 300",
        "```",
        "",
        "## Every setting",
        "",
        *_table(settings_table(), with_flag=True),
        "",
        "## Read by the tests and benchmarks only",
        "",
        *_table(TEST_SETTINGS, with_flag=False),
        "",
    ]
    return "\n".join(lines)
