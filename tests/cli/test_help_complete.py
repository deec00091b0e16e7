"""The command line describes itself (issue 19 item 4): every command has a description and every option a help text,
`--help` works for each as a subprocess, and the README's "What is in the box" names exactly the commands there are."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cds_cyto.cli import build_parser
from tests.support.cli import run_cds_cyto

README = Path(__file__).resolve().parents[2] / "README.md"


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(((*path, name), sub))
                out += commands(sub, (*path, name))
    return out


ALL = commands(build_parser())


@pytest.mark.parametrize(("path", "parser"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_command_has_a_description_and_every_option_a_help(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    assert parser.description, f"cds-cyto {' '.join(path)}: no description"
    undocumented = [
        a.option_strings or [a.dest]
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction) and not a.help
    ]
    assert not undocumented, f"cds-cyto {' '.join(path)}: options without help: {undocumented}"


def test_help_runs_for_every_command(tmp_path: Path) -> None:
    for path, _ in ALL:
        result = run_cds_cyto(tmp_path, *path, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: cds-cyto " + " ".join(path))


def test_the_readme_box_names_exactly_the_top_level_commands() -> None:
    text = README.read_text(encoding="utf-8")
    box = text[text.index("## What is in the box") :]
    box = box[: box.index("\n\n", box.index("| door |"))]
    named = set(re.findall(r"`cds-cyto ([a-z]+)", box))
    top = {path[0] for path, _ in ALL if len(path) == 1}
    assert named == top, f"README names {sorted(named - top)} that do not exist and misses {sorted(top - named)}"
