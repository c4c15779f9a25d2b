"""The docs cannot drift: docs/architecture.md's module table against the imports, and the
command synopses of docs/design.md and README against the argument parser."""

from __future__ import annotations

import argparse
import ast
import re
import shlex

from tests.conftest import ROOT

PKG = ROOT / "primsync"


def _lazy_exports() -> dict[str, str]:
    """primsync/__init__.py's lazy map: public name -> module."""
    for node in ast.walk(ast.parse((PKG / "__init__.py").read_text())):
        if isinstance(node, ast.Dict) and node.keys:
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            values = [v.value for v in node.values if isinstance(v, ast.Constant)]
            if len(keys) == len(values) == len(node.keys) and all(
                isinstance(v, str) and v.startswith("primsync.") for v in values
            ):
                return dict(zip(keys, values, strict=True))
    raise AssertionError("primsync/__init__.py has no lazy map of its exports")


def _top(dotted: str) -> str:
    return dotted.split(".")[1]  # primsync.db.access -> db


def imports_of(paths) -> set[str]:
    """The parts of primsync that these files import (db/ and widgets/ as one part each)."""
    lazy = _lazy_exports()
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "primsync":
                for alias in node.names:
                    if (PKG / f"{alias.name}.py").exists() or (PKG / alias.name).is_dir():
                        found.add(alias.name)
                    else:
                        found.add(_top(lazy[alias.name]))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("primsync."):
                found.add(_top(node.module))
            elif isinstance(node, ast.Import):
                found.update(_top(a.name) for a in node.names if a.name.startswith("primsync."))
    return found


def module_table() -> dict[str, tuple[list[str], str]]:
    """docs/architecture.md's table: the cell of modules -> (their files' stems, imports)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Who owns which step", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([\w/]+?)(?:\.py|/)?`", cells[0])
        rows[cells[0]] = (names, cells[2])
    return rows


def test_the_architecture_table_names_every_module_and_what_it_imports():
    rows = module_table()
    listed = {name for names, _ in rows.values() for name in names}
    modules = {p.stem for p in PKG.glob("*.py") if p.stem != "__init__"} | {"db", "widgets"}
    assert listed == modules, ("in the table, not in primsync/", listed - modules,
                               "in primsync/, not in the table", modules - listed)  # fmt: skip
    for cell, (names, documented) in rows.items():
        if documented == "everything above":
            continue
        files = []
        for name in names:
            files += [PKG / f"{name}.py"] if (PKG / f"{name}.py").exists() else [
                p for p in (PKG / name).rglob("*.py") if "migrations" not in p.parts]  # fmt: skip
        actual = imports_of(files) - set(names)
        said = set() if documented == "—" else {
            w.strip().split(".")[0] for w in documented.split(",")}  # fmt: skip
        assert said == actual, f"{cell}: the table says {sorted(said)}, the code imports " \
                               f"{sorted(actual)}"  # fmt: skip


def _parser_commands() -> dict[str, set[str]]:
    """'review' -> its flags; 'account add' -> its flags (subcommands spelled out)."""
    from primsync.cli import build_parser

    out: dict[str, set[str]] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        flags = {o for a in parser._actions for o in a.option_strings
                 if o.startswith("--") and a.help != argparse.SUPPRESS}  # fmt: skip
        if prefix:
            out[prefix] = flags - {"--help"}
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, f"{prefix} {name}".strip())

    walk(build_parser(), "")
    return out


def _synopsis_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if re.match(r"^\s{4}primsync \w", line)]


def _command_of(line: str, commands: dict[str, set[str]]) -> str:
    words = shlex.split(line.replace("|", " "), posix=False)[1:]
    two = " ".join(words[:2])
    return two if two in commands else words[0]


def test_design_synopses_match_the_argument_parser():
    """Every command of the parser has its synopsis in docs/design.md, every command and flag
    a synopsis names exists, and every flag is written somewhere in the command line section."""
    commands = _parser_commands()
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    lines = _synopsis_lines(section)
    named: dict[str, set[str]] = {}
    current = None
    for raw in section.splitlines():
        if re.match(r"^\s{4}primsync \w", raw):
            current = _command_of(raw.strip(), commands)
            assert current in commands, f"design.md names a command the parser lacks: {raw}"
        elif not raw.startswith("    "):
            current = None
        if current is not None:  # a synopsis and its indented continuation lines
            named.setdefault(current, set()).update(re.findall(r"--[a-z][a-z-]*", raw))
    for command, flags in named.items():
        group = command.split()[0]  # a line may list several subcommands: `list | test | remove`
        own = {f for c, fs in commands.items() if c == group or c.startswith(group + " ")
               for f in fs}  # fmt: skip
        assert flags <= own | {"--db"}, (command, sorted(flags - own))
    groups = {c.split()[0] for c in commands}
    documented = {_command_of(line, commands).split()[0] for line in lines}
    assert groups <= documented, sorted(groups - documented)
    every_flag = {f for fs in commands.values() for f in fs}
    missing = sorted(f for f in every_flag if f not in section)
    assert not missing, f"flags the parser has and design.md's command line never names: {missing}"


def test_readme_commands_are_the_parser_s():
    """Each `primsync ...` line README shows in a block runs a command the parser has, with
    flags it has."""
    commands = _parser_commands()
    text = (ROOT / "README.md").read_text()
    for line in _synopsis_lines(text):
        command = _command_of(line, commands)
        assert command in commands, line
        flags = set(re.findall(r"(?<=\s)--[a-z][a-z-]*", line))
        assert flags <= commands[command], (line, sorted(flags - commands[command]))


def test_the_suite_s_module_lists_name_modules_that_exist():
    """conftest's lists (SQLite only, PostgreSQL only, the IMAP side that CI's second pass runs,
    the slow ones first) name test modules by name: a renamed module would drop out silently."""
    from tests import conftest

    modules = {p.stem for p in (ROOT / "tests").glob("test_*.py")}
    for name, listed in (("DIALECT_FREE", conftest.DIALECT_FREE),
                         ("POSTGRES_ONLY", conftest.POSTGRES_ONLY),
                         ("IMAP_SIDE", conftest.IMAP_SIDE),
                         ("SLOW_FIRST", set(conftest.SLOW_FIRST))):  # fmt: skip
        assert set(listed) <= modules, (name, sorted(set(listed) - modules))
