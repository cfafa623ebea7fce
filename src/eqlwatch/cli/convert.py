"""`eqlwatch convert RULE.yml`: the detection-rules TOML eqlwatch runs for a Sigma rule.

A team reviews or commits the EQL instead of trusting a conversion at run time; the TOML
printed loads back to the very same rule (the tests check it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from eqlwatch.errors import ConfigError, EqlwatchError, Location


def to_toml(text: str, *, file: str) -> tuple[str | None, list[EqlwatchError]]:
    """(TOML text, errors): the rule is loaded and its query compiled before it is printed."""
    import tomli_w

    from eqlwatch.rules.loader import load_rule_text
    from eqlwatch.sigma import is_sigma_file, sigma_rule_data

    if not is_sigma_file(file):
        return None, [ConfigError("not a Sigma rule file (*.yml, *.yaml)", location=Location(file))]
    rule, errors = load_rule_text(text, file=file)
    if rule is None or errors:
        return None, errors
    data: dict[str, Any] = sigma_rule_data(text)
    data.setdefault("eqlwatch", {}).setdefault("enabled", True)
    header = f"# Converted from the Sigma rule {Path(file).name} by `eqlwatch convert`.\n"
    return header + tomli_w.dumps(data, multiline_strings=True), []


def register(app: typer.Typer) -> None:
    @app.command("convert")
    def convert_command(
        rule: Path = typer.Argument(..., metavar="RULE.yml", help="A Sigma rule file."),  # noqa: B008
        output: Path | None = typer.Option(  # noqa: B008
            None, "--output", "-o", metavar="FILE", help="Write the TOML here instead of stdout."
        ),
    ) -> None:
        """Print the detection-rules TOML (with its [eqlwatch] table) a Sigma rule runs as."""
        try:
            text = rule.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            typer.echo(f"{rule}: cannot read: {exc}", err=True)
            raise typer.Exit(1) from None
        toml, errors = to_toml(text, file=str(rule))
        for error in errors:
            typer.echo(str(error), err=True)
        if toml is None:
            raise typer.Exit(1)
        if output is None:
            typer.echo(toml, nl=False)
        else:
            output.write_text(toml, encoding="utf-8")
