"""Jobs (`jobs/*.toml`): WHEN and WHERE a set of rules runs, as frozen data.

A job names its schedule, the index patterns, which rules (path globs, tags, exclusions),
the windowing limits, and where events come from and alerts and state go. Relative paths
in a job are relative to the job's root: the parent of the `jobs/` folder the file is in,
or the file's own folder otherwise (see docs/rules.md).
"""

from __future__ import annotations

import fnmatch
import glob
import re
import tomllib
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eqlwatch.actions.config import ActionConfig
from eqlwatch.errors import ConfigError, EqlwatchError, Location
from eqlwatch.rules.loader import field_path, folder_files, key_line
from eqlwatch.rules.model import Duration, Rule
from eqlwatch.sigma.files import SIGMA_SUFFIXES

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?]+$")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Schedule(_Strict):
    """Exactly one of `interval` ("5m") or `cron` (five fields, UTC)."""

    interval: Duration | None = None
    cron: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("give exactly one of 'interval' or 'cron'")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError("interval must be positive")
        if self.cron is not None:
            fields = self.cron.split()
            if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
                raise ValueError(f"cron {self.cron!r} must have five fields, e.g. '*/5 * * * *'")
        return self


class RuleSelection(_Strict):
    """Which rules a job runs: files matching `paths`, with any of `tags` (none = all)."""

    paths: tuple[str, ...] = ("queries/*.toml",)
    tags: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # rule_ids or path globs


class LocalSource(_Strict):
    """Event files (NDJSON/JSON ECS, or raw Windows logs through the Sysmon normaliser).

    `generate_demo` writes the synthetic demo dataset into the folder of the first path
    when that folder has no events yet: the zero-configuration default.
    """

    backend: Literal["local"]
    paths: tuple[str, ...] = Field(min_length=1)
    input_format: Literal[
        "auto", "ecs", "evtx", "evtx-json", "winlogbeat", "nxlog", "eventdata-array", "splunk-xml"
    ] = "auto"
    generate_demo: bool = False


class ElasticsearchSource(_Strict):
    backend: Literal["elasticsearch"]


class LocalAlerts(_Strict):
    backend: Literal["local"]
    path: str = "out/alerts.ndjson"


class ElasticsearchAlerts(_Strict):
    backend: Literal["elasticsearch"]
    data_stream: str = "logs-eqlwatch.alerts-default"


class LocalState(_Strict):
    backend: Literal["local"]
    path: str = "state/state.json"


class ElasticsearchState(_Strict):
    backend: Literal["elasticsearch"]
    index: str = "eqlwatch-state"  # eqlwatch.settings.STATE_INDEX


class AlertLimits(_Strict):
    """`[job.alert_limits]`: what one alert may cost, whatever its events or template hold.

    A note render past `note_timeout` or `note_max_chars` gets the fallback note and a
    counted error; strings copied from events into the alert are cut at `max_string_bytes`.
    """

    note_timeout: Duration = timedelta(seconds=1)
    note_max_chars: int = Field(default=64 * 1024, ge=1024)
    max_string_bytes: int = Field(default=32_000, ge=256)

    @model_validator(mode="after")
    def _positive_timeout(self) -> AlertLimits:
        if self.note_timeout <= timedelta(0):
            raise ValueError("note_timeout must be positive")
        return self


SourceConfig = Annotated[LocalSource | ElasticsearchSource, Field(discriminator="backend")]
AlertsConfig = Annotated[LocalAlerts | ElasticsearchAlerts, Field(discriminator="backend")]
StateConfig = Annotated[LocalState | ElasticsearchState, Field(discriminator="backend")]


class Job(_Strict):
    """The `[job]` table. `root` is set by the loader, never read from the file."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    schedule: Schedule
    indices: tuple[str, ...] = ()
    rules: RuleSelection = RuleSelection()
    look_back: Duration = timedelta(hours=1)
    ingest_delay: Duration = timedelta(seconds=30)
    max_chunk: Duration = timedelta(hours=1)
    max_slices: int = Field(default=24, ge=1)
    min_split: Duration = timedelta(seconds=1)
    max_sequence_span: Duration = timedelta(hours=1)
    # Windows are cut on selection time (arrival); a sequence whose events arrive within
    # this much of each other is found once, whatever their event times (docs/windowing.md).
    late_tolerance: Duration = timedelta(hours=1)
    # How long a due window waits for the source's newest event to reach its end before it
    # is evaluated anyway (the lag is recorded); and the most one rule run may take.
    max_wait: Duration = timedelta(minutes=15)
    run_deadline: Duration = timedelta(minutes=10)
    size: int = Field(default=1000, ge=1, le=10000)
    timestamp_field: str = "@timestamp"
    tiebreaker_field: str | None = None
    event_category_field: str = "event.category"
    kibana_url: str | None = None
    source: SourceConfig = LocalSource(backend="local", paths=("data/*.ndjson",))
    alerts: AlertsConfig = LocalAlerts(backend="local")
    state: StateConfig = LocalState(backend="local")
    alert_limits: AlertLimits = AlertLimits()
    actions: tuple[ActionConfig, ...] = ()
    # Alerts on one host within one cell of this fixed time grid share eqlwatch.group.id.
    group_span: Duration = timedelta(minutes=30)
    root: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _positive(self) -> Job:
        if self.max_wait < timedelta(0):
            raise ValueError("max_wait must not be negative")
        if self.run_deadline <= timedelta(0):
            raise ValueError("run_deadline must be positive")
        if self.late_tolerance < timedelta(0):
            raise ValueError("late_tolerance must not be negative")
        if self.group_span <= timedelta(0):
            raise ValueError("group_span must be positive")
        names = [a.name for a in self.actions]
        if len(set(names)) != len(names):  # deliveries are routed by name
            raise ValueError("action names must be distinct within a job")
        return self

    def resolve(self, path: str) -> Path:
        """A path from the job file, made absolute against the job's root."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.root / candidate


def job_root(path: Path) -> Path:
    """The folder a job's relative paths start from (parent of `jobs/`, else its folder)."""
    folder = path.resolve().parent
    return folder.parent if folder.name == "jobs" else folder


def parse_job(text: str, *, file: str, root: Path) -> tuple[Job | None, list[EqlwatchError]]:
    """Validate one job file's text; every problem names the file and the field."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        pos = _TOML_POS.search(str(exc))
        line, col = (int(pos.group(1)), int(pos.group(2))) if pos else (None, None)
        msg = _TOML_POS.sub("", str(exc)).strip()
        return None, [ConfigError(f"invalid TOML: {msg}", location=Location(file, line, col))]
    except RecursionError:
        return None, [ConfigError("invalid TOML: nested too deeply", location=Location(file))]
    table = data.get("job")
    if not isinstance(table, dict):
        return None, [ConfigError("missing the [job] table", location=Location(file, field="job"))]
    if "root" in table:
        where = Location(file, key_line(text, "job", "root"), None, "job.root")
        return None, [ConfigError("'root' is not a job setting", location=where)]
    try:
        return Job.model_validate({**table, "root": root}), []
    except ValidationError as exc:
        return None, [_located(err, text, file) for err in exc.errors()]


def _located(err: Any, text: str, file: str) -> EqlwatchError:
    loc = ("job", *err["loc"])
    line = key_line(text, "job", str(loc[1])) if len(loc) >= 2 else None
    if line is None and len(loc) >= 3:
        line = key_line(text, f"job.{loc[1]}", str(loc[2]))
    msg = str(err["msg"]).removeprefix("Value error, ")
    return ConfigError(msg, location=Location(file, line, None, field_path(loc)))


def load_job(path: Path | str) -> tuple[Job | None, list[EqlwatchError]]:
    """Read and validate one job file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigError(f"cannot read: {exc}", location=Location(str(path)))]
    return parse_job(text, file=str(path), root=job_root(path))


def load_jobs(paths: Iterable[Path | str]) -> tuple[list[Job], list[EqlwatchError]]:
    """Every job under `paths` (files, or folders of `*.toml`); duplicate ids are errors."""
    jobs: list[Job] = []
    errors: list[EqlwatchError] = []
    for raw in paths:
        path = Path(raw)
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        for file in files:
            job, problems = load_job(file)
            errors.extend(problems)
            if job is not None and any(j.id == job.id for j in jobs):
                where = Location(str(file), field="job.id")
                errors.append(ConfigError(f"duplicate job id {job.id!r}", location=where))
            elif job is not None:
                jobs.append(job)
    return jobs, errors


def rule_paths(job: Job) -> list[Path]:
    """The rule files the job's `rules.paths` globs match (sorted, each once); a matched
    folder stands for every `*.toml` (and Sigma `*.yml`) beneath it."""
    found: dict[Path, None] = {}
    for pattern in job.rules.paths:
        if Path(pattern).is_absolute():
            matches = sorted(Path(p) for p in glob.glob(pattern))
        else:
            matches = sorted(job.root.glob(pattern))
        for match in matches:
            if match.is_dir():
                found.update(dict.fromkeys(folder_files(match, (".toml", *SIGMA_SUFFIXES))))
            elif match.is_file():
                found[match] = None
    return list(found)


def select_rules(job: Job, rules: Sequence[Rule]) -> list[Rule]:
    """The loaded rules this job runs: enabled, tagged as asked, not excluded (pure)."""
    wanted = set(job.rules.tags)
    chosen: list[Rule] = []
    for rule in rules:
        if not rule.eqlwatch.enabled:
            continue
        if wanted and wanted.isdisjoint(rule.rule.tags):
            continue
        if _excluded(job, rule):
            continue
        chosen.append(rule)
    return chosen


def _excluded(job: Job, rule: Rule) -> bool:
    path = PurePath(rule.path).as_posix() if rule.path else ""
    for pattern in job.rules.exclude:
        if pattern == rule.rule_id:
            return True
        if path and (fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, f"*/{pattern}")):
            return True
    return False
