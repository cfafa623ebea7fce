"""`eqlwatch actions test JOB`: send one sample message through each of a job's actions.

Straight to the target, not through the outbox, so an operator sees at once whether a URL,
a token or a template works. Secrets are read from the environment as in a real run and
never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

ENV_HELP = (
    "Reads the variables that the job's action URLs and headers name as ${NAME} "
    "(or NAME_FILE, a file holding the value)."
)


def register(app: typer.Typer) -> None:
    actions_app = typer.Typer(
        name="actions", help="Notifications: check a job's actions.", no_args_is_help=True
    )

    @actions_app.command("test", epilog=ENV_HELP)
    def test_command(
        job: str = typer.Argument(..., help="A job id (from --jobs) or a job file."),
        jobs: Path = typer.Option(Path("jobs"), "--jobs", help="Folder or file of jobs."),  # noqa: B008
    ) -> None:
        """Send one sample message per action of JOB; exit 1 if any target refused it."""
        from eqlwatch.actions.dispatch import SENDERS
        from eqlwatch.actions.messages import render
        from eqlwatch.actions.outbox import delivery_id
        from eqlwatch.actions.sample import sample_alert
        from eqlwatch.actions.secrets import display_target, expand
        from eqlwatch.actions.senders import SendError
        from eqlwatch.errors import EqlwatchError
        from eqlwatch.jobs import load_job, load_jobs
        from eqlwatch.pipeline.job import load_job_rules

        if Path(job).is_file():
            found, errors = load_job(Path(job))
            selected = [found] if found is not None else []
        else:
            all_jobs, errors = load_jobs([jobs])
            selected = [j for j in all_jobs if j.id == job]
        for error in errors:
            typer.echo(f"error: {error}", err=True)
        if not selected:
            typer.echo(f"error: no valid job {job!r} (looked in {jobs})", err=True)
            raise typer.Exit(2)
        chosen = selected[0]
        rules, rule_errors = load_job_rules(chosen)
        for problem in rule_errors:
            typer.echo(f"error: rule not loaded: {problem}", err=True)
        routes = [(a.name, a) for a in chosen.actions]
        for rule in rules:  # a rule's own [[eqlwatch.actions]], named name@rule_id
            routes += [(f"{a.name}@{rule.rule_id}", a) for a in rule.eqlwatch.actions or ()]
        if not routes:
            typer.echo(
                f"error: job {chosen.id!r} has no [[job.actions]] and none of its rules "
                "has [[eqlwatch.actions]]",
                err=True,
            )
            raise typer.Exit(2)
        alert = sample_alert(chosen.id)
        failed = 0
        for route, action in routes:
            target = display_target(action.url)
            try:
                message = render(action, [alert.document], job_id=chosen.id, root=chosen.root)
                url = expand(action.url, os.environ, what=f"action {action.name!r} url")
                headers = {
                    k: expand(v, os.environ, what=f"action {action.name!r} header {k}")
                    for k, v in action.headers.items()
                }
                key = delivery_id(route, [alert.id])
                SENDERS[action.kind](action, url, headers, message, key)
            except (SendError, EqlwatchError) as exc:
                failed += 1
                typer.echo(f"FAILED {route} ({action.kind} {target}): {exc}")
            else:
                typer.echo(f"sent   {route} ({action.kind} {target})")
        raise typer.Exit(1 if failed else 0)

    app.add_typer(actions_app)
