"""Reading and checking the plugin's options: every bad value is a usage error naming it.

Each setting comes from a command-line flag or, failing that, its ini key;
:func:`setting` says which, so that every message names the one the user
wrote.  A path is checked here, at start-up, for everything that would
otherwise lose spans later: a folder that cannot be made, a file that is not
a regular one, a name too long for the file system.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Optional

import pytest

from .base import FORMATS
from .redact import RedactionPolicy, policy_from_lines

__all__ = [
    "DEFAULT_MAX_SPANS",
    "REPORT_MODES",
    "ReportSettings",
    "read_count",
    "read_format",
    "read_output_path",
    "read_path",
    "read_report_settings",
    "setting",
]

DEFAULT_MAX_SPANS = 1000
_DEFAULT_FILE = "spans.jsonl"

REPORT_MODES = ("failed", "all", "none")
# The spellings pytest accepts for its own boolean ini keys.  Parsed here so a
# bad value is a usage error that names the key.
_TRUTH = {
    **dict.fromkeys(("true", "yes", "y", "on", "1", "t"), True),
    **dict.fromkeys(("false", "no", "n", "off", "0", "f", ""), False),
}


def setting(config: pytest.Config, name: str) -> tuple[Optional[str], str]:
    """Return ``(value, where)``: the flag wins over the ini key; ``where`` names the source."""
    value = config.getoption(name)
    if value is not None:
        return str(value), "--" + name.replace("_", "-")
    ini = config.getini(name)
    return (str(ini) if ini not in (None, "") else None), f"{name} (ini)"


def read_count(config: pytest.Config, name: str, default: int, unit: str) -> int:
    """A whole number >= 1 from a flag or ini key; anything else is a usage error."""
    value, where = setting(config, name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise pytest.UsageError(
            f"{where}: expected a whole number of {unit}, got {value!r}"
        ) from None
    if number < 1:
        raise pytest.UsageError(f"{where}: must be at least 1, got {number}")
    return number


def read_format(config: pytest.Config) -> str:
    value, where = setting(config, "trace_store_format")
    if value is None:
        return FORMATS[0]
    name = value.strip().lower()
    if name not in FORMATS:
        raise pytest.UsageError(
            f"{where}: expected one of {', '.join(FORMATS)}, got {value!r}"
        )
    return name


def _default_path(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("tracestore")) / _DEFAULT_FILE
    # The cache provider is disabled: use the same place it would have used.
    return config.rootpath / ".pytest_cache" / "d" / "tracestore" / _DEFAULT_FILE


def _resolve(config: pytest.Config, value: str, where: str) -> Path:
    """A path from a flag (relative to the current folder) or an ini key (to the ini file's)."""
    if where.startswith("--"):
        base = config.invocation_params.dir
    else:
        base = config.inipath.parent if config.inipath else config.rootpath
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else Path(base) / path


def make_folder(folder: Path, where: str) -> None:
    """Make ``folder`` and its parents; a usage error naming ``where`` if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"{where}: cannot create the folder {folder}: {exc.strerror or exc}"
        ) from None


def _check_writable(folder: Path, where: str) -> None:
    # Trying is the only test that holds for every user (root included) and
    # every file system (a read-only mount, say).
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".tracestore-probe-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(
            f"{where}: cannot write in the folder {folder}: {exc.strerror or exc}"
        ) from None


def read_path(config: pytest.Config, *, check: bool = True) -> tuple[Path, str]:
    """The artifact path and where it was set; a symlink is resolved to the file it names.

    With ``check``, the path must be a regular file or not exist yet, and
    its folder is made and must be writable.
    """
    value, where = setting(config, "trace_store_path")
    if value is None:
        path, where = _default_path(config), "--trace-store-path (default)"
    else:
        path = _resolve(config, value, where)
    return _check_file(path, where, check), where


def read_output_path(
    config: pytest.Config, name: str, *, check: bool = True
) -> Optional[tuple[Path, str]]:
    """An output file's path from flag or ini key ``name``, as :func:`read_path`; ``None`` if unset."""
    value, where = setting(config, name)
    if value is None:
        return None
    return _check_file(_resolve(config, value, where), where, check), where


def _check_file(path: Path, where: str, check: bool) -> Path:
    try:
        if os.path.islink(path):
            # Resolved once, here: a trim or merge then replaces the file the
            # link names, and the link stays a link.
            path = Path(os.path.realpath(path))
        info: Optional[os.stat_result] = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        info = None  # making its folder tells what is wrong, if anything
    except OSError as exc:
        raise pytest.UsageError(f"{where}: cannot use {path}: {exc.strerror or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise pytest.UsageError(f"{where}: {path} is a folder; give a file path")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise pytest.UsageError(
            f"{where}: {path} is not a regular file (a device, a FIFO or a socket); "
            "give a file path"
        )
    if check:
        make_folder(path.parent, where)
        _check_writable(path.parent, where)
    return path


class ReportSettings:
    """What the plugin does around failing tests, read from options and ini keys.

    ``redaction`` is the policy the ``trace_store_redact`` ini key asks for.
    """

    # A plain class: building a dataclass costs every test process more at
    # start-up than the rest of this module.
    __slots__ = ("fail_on_error", "failed_dir", "redaction", "report")

    def __init__(
        self,
        report: str = "failed",
        fail_on_error: bool = False,
        failed_dir: Path | None = None,
        redaction: RedactionPolicy | None = None,
    ) -> None:
        self.report = report
        self.fail_on_error = fail_on_error
        self.failed_dir = failed_dir
        self.redaction = redaction


def _read_failed_dir(config: pytest.Config) -> Optional[Path]:
    value, where = setting(config, "trace_store_failed_dir")
    if value is None:
        return None
    folder = _resolve(config, value, where)
    try:
        exists, is_dir = folder.exists(), folder.is_dir()
    except OSError as exc:
        raise pytest.UsageError(f"{where}: cannot use {folder}: {exc.strerror or exc}") from None
    if exists and not is_dir:
        raise pytest.UsageError(f"{where}: {folder} is a file; give a folder")
    # Made now: a folder that cannot be made would otherwise cost every
    # failed test its file, each with a warning, after the run had begun.
    make_folder(folder, where)
    _check_writable(folder, where)
    return folder


def _read_bool_ini(config: pytest.Config, name: str) -> bool:
    """A true/false ini key, spelt as pytest spells its own; anything else is a usage error."""
    text = str(config.getini(name)).strip().lower()
    if text not in _TRUTH:
        raise pytest.UsageError(f"{name} (ini): expected true or false, got {text!r}")
    return _TRUTH[text]


def read_report_settings(config: pytest.Config) -> ReportSettings:
    value, where = setting(config, "trace_store_report")
    report = "failed" if value is None else value.strip().lower()
    if report not in REPORT_MODES:
        raise pytest.UsageError(
            f"{where}: expected one of {', '.join(REPORT_MODES)}, got {value!r}"
        )
    fail_on_error = bool(config.getoption("trace_store_fail_on_error"))
    if not fail_on_error:
        fail_on_error = _read_bool_ini(config, "trace_store_fail_on_error")
    failed_dir = _read_failed_dir(config)
    redact_values = _read_bool_ini(config, "trace_store_redact_values")
    try:
        redaction = policy_from_lines(config.getini("trace_store_redact"), values=redact_values)
    except ValueError as exc:
        raise pytest.UsageError(f"trace_store_redact (ini): {exc}") from None
    return ReportSettings(report, fail_on_error, failed_dir, redaction)


def test_spans_wanted(config: pytest.Config) -> bool:
    """Whether ``--trace-store-test-spans`` or its ini key asks for test spans; a bad ini value is a usage error."""
    wanted = bool(config.getoption("trace_store_test_spans", None))
    # Read even when the flag is given, so a bad value never passes unseen.
    return _read_bool_ini(config, "trace_store_test_spans") or wanted


def read_html_path(config: pytest.Config, artifact: Path, *, check: bool = True) -> Optional[Path]:
    """The page's path, or ``None``; with ``check``, a path that cannot be written is a usage error."""
    found = read_output_path(config, "trace_store_html", check=check)
    if found is None:
        return None
    path, where = found
    if os.path.abspath(path) == os.path.abspath(artifact):
        raise pytest.UsageError(f"{where}: {path} is the trace file itself; give another path")
    return path
