"""`eqlwatch validate [PATHS]`: check rules, jobs and templates before they run.

Rules are validated and their queries compiled by the embedded engine; jobs are validated
and must select at least one rule; templates are parsed and rendered against a synthetic
alert, and every rule's template must exist and render with that rule. Folders are read
recursively; a folder holding none of these files, or a run that finds no rule, job or
template at all, is an error. Rules of Kibana's other types (kuery, ES|QL, ...) are counted
as skipped in the summary, not errors. Each problem is printed as
`file:line:col [field]: message`; the exit code is 1 when there is any.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import typer

from eqlwatch.errors import ConfigError, EqlwatchError, Location
from eqlwatch.jobs import load_job, rule_paths
from eqlwatch.notes import check_templates
from eqlwatch.rules import load_rules
from eqlwatch.rules.loader import folder_files
from eqlwatch.rules.model import Rule
from eqlwatch.sigma.files import SIGMA_SUFFIXES, is_sigma_file

DEFAULT_PATHS = ("queries", "jobs", "templates")


@dataclass
class Inputs:
    """The files to check, sorted by kind."""

    rules: list[Path] = field(default_factory=list)
    jobs: list[Path] = field(default_factory=list)
    templates: list[Path] = field(default_factory=list)
    errors: list[EqlwatchError] = field(default_factory=list)


_JOB_KEY = re.compile(r"^\s*(\[\s*job\s*[\].]|job\s*=)", re.M)


def _is_job(path: Path) -> bool:
    """Whether the file has a top-level `job` table (cheap text test first: rule folders
    hold thousands of files, and parsing each twice cost a tenth of `validate`)."""
    try:
        text = path.read_text(encoding="utf-8")
        return _JOB_KEY.search(text) is not None and "job" in tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return path.parent.name == "jobs"  # the loader reports the real problem


def classify(paths: list[Path]) -> Inputs:
    """Files and folders → rule files, job files, templates (by suffix and content)."""
    found = Inputs()
    for path in paths:
        if path.is_dir():
            files = folder_files(path, (".toml", ".j2", *SIGMA_SUFFIXES))
            if not files:
                message = "no rule, job or template file in this folder or below"
                found.errors.append(ConfigError(message, location=Location(str(path))))
        elif path.is_file():
            files = [path]
        else:
            found.errors.append(
                ConfigError("no such file or directory", location=Location(str(path)))
            )
            continue
        for file in files:
            if file.suffix == ".j2":
                found.templates.append(file)
            elif is_sigma_file(file):
                found.rules.append(file)
            elif _is_job(file):
                found.jobs.append(file)
            else:
                found.rules.append(file)
    return found


def rule_root(rule: Rule) -> Path:
    """Where a rule's relative paths start: the parent of `queries/`, else its folder."""
    folder = Path(rule.path or ".").parent
    return folder.parent if folder.name == "queries" else folder


def check_fixtures(rules: list[Rule]) -> list[EqlwatchError]:
    """Every `[[eqlwatch.fixtures]]` path must exist."""
    errors: list[EqlwatchError] = []
    for rule in rules:
        for i, fixture in enumerate(rule.eqlwatch.fixtures):
            if not (rule_root(rule) / fixture.path).is_file():
                where = Location(rule.path, field=f"eqlwatch.fixtures[{i}].path")
                errors.append(ConfigError(f"fixture {fixture.path!r} not found", location=where))
    return errors


def check_jobs(files: list[Path]) -> list[EqlwatchError]:
    """Each job loads and selects at least one rule file."""
    errors: list[EqlwatchError] = []
    for file in files:
        job, problems = load_job(file)
        errors.extend(problems)
        if job is not None and not rule_paths(job):
            where = Location(str(file), field="job.rules.paths")
            errors.append(ConfigError("matches no rule file", location=where))
    return errors


def _template_dirs(inputs: Inputs, default: Path) -> list[Path]:
    dirs = {t.parent: None for t in inputs.templates}
    if not dirs and default.is_dir():
        dirs[default] = None
    return list(dirs)


def validate(paths: list[Path], templates_dir: Path) -> tuple[list[EqlwatchError], str]:
    """All problems found under `paths`, and a one-line summary."""
    inputs = classify(paths)
    errors = list(inputs.errors)
    loaded = load_rules(inputs.rules)
    errors += loaded.errors
    errors += check_fixtures(list(loaded.rules))
    errors += check_jobs(inputs.jobs)
    dirs = _template_dirs(inputs, templates_dir)
    for folder in dirs:
        errors += check_templates(folder, loaded.rules if folder == dirs[0] else ())
    if not dirs and any(r.eqlwatch.template for r in loaded.rules):
        errors.append(
            ConfigError(
                "rules name templates but no templates folder was found",
                location=Location(str(templates_dir)),
            )
        )
    counted = len(inputs.rules), len(inputs.jobs), sum(len(list(d.glob("*.j2"))) for d in dirs)
    eql_rules = counted[0] - len(loaded.skipped)
    if not inputs.errors and eql_rules == 0 and not inputs.jobs and not inputs.templates:
        where = ", ".join(str(p) for p in paths) or "(no path)"
        errors.append(ConfigError(f"no EQL rule, job or template found in {where}"))
    skipped = f" ({loaded.skipped_summary()})" if loaded.skipped else ""
    summary = (
        f"{counted[0]} rule file(s){skipped}, {counted[1]} job file(s), {counted[2]} "
        f"template(s) checked: {len(errors)} error(s)"
    )
    return errors, summary


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_command(
        paths: list[Path] = typer.Argument(  # noqa: B008 - typer's declaration style
            None,
            help="Rule, job or template files or folders (default: queries/ jobs/ templates/).",
        ),
        templates: Path = typer.Option(  # noqa: B008
            Path("templates"), "--templates", help="Folder of note templates for the rules."
        ),
    ) -> None:
        """Check rules, jobs and templates; exit 1 when anything is wrong.

        Reads EQLWATCH_CACHE_DIR: where loaded rules are kept between runs ("off": nowhere).
        Reads EQLWATCH_RULE_WORKERS: processes reading a big rule folder afresh (default:
        the cores; 1: this one alone).
        """
        targets = paths or [Path(p) for p in DEFAULT_PATHS if Path(p).exists()]
        errors, summary = validate(targets, templates)
        for error in errors:
            typer.echo(str(error), err=True)
        typer.echo(summary)
        raise typer.Exit(1 if errors else 0)
