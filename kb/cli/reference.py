"""Generated documentation: the CLI reference (docs/cli.md) and the README's table of KB_* settings.

Both are rendered from the code itself (click's own help formatter, `kb.config.SETTINGS`), so the
docs cannot drift from it; tests/test_docs.py fails when a checked-in copy is out of date.

    python -m kb.cli.reference > docs/cli.md        # the CLI reference
    python -m kb.cli.reference --settings-table     # print the README's KB_* table
    python -m kb.cli.reference --update-readme      # rewrite that table inside README.md
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

WIDTH = 100  # fixed terminal width: the output must not depend on the terminal that runs it
REGENERATE = "python -m kb.cli.reference > docs/cli.md"
UPDATE_README = "python -m kb.cli.reference --update-readme"
TABLE_BEGIN = f"<!-- KB_* settings table: generated from kb.config.SETTINGS by `{UPDATE_README}`; do not edit -->"
TABLE_END = "<!-- end of generated settings table -->"


def _context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    """The context click would build for `command`, without parsing arguments (settings inherit from the parent)."""
    settings = dict(command.context_settings)
    settings.setdefault("terminal_width", WIDTH)
    settings.setdefault("max_content_width", WIDTH)
    return click.Context(command, info_name=name, parent=parent, **settings)


def iter_commands(group: click.Command, name: str = "kb",
                  parent: click.Context | None = None) -> Iterator[tuple[str, click.Command, click.Context]]:
    """(command path, command, context) for the group and every visible command under it, depth first."""
    ctx = _context(group, name, parent)
    yield ctx.command_path, group, ctx
    if isinstance(group, click.Group):
        for sub_name in group.list_commands(ctx):
            sub = group.get_command(ctx, sub_name)
            if sub is None or sub.hidden:
                continue
            yield from iter_commands(sub, sub_name, ctx)


def render_reference(group: click.Command, name: str = "kb") -> str:
    """Markdown: for every command, a `kb <path>` heading and its full --help output."""
    paths = [(path, command, ctx) for path, command, ctx in iter_commands(group, name)]
    out = [
        f"<!-- Generated from the commands' --help by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "# CLI reference",
        "",
        f"Every `{name}` command with its full `--help`. `python -m kb` is the same command; every",
        "option that names a KB_* variable can be set through that variable instead (flags win).",
        "",
    ]
    for path, _command, _ctx in paths[1:]:
        anchor = path.replace(" ", "-")
        out.append(f"- [`{path}`](#{anchor})")
    out.append("")
    for path, command, ctx in paths:
        help_text = command.get_help(ctx).rstrip()
        out += [f"## {path}", "", "```text", help_text, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def settings_commands(group: click.Command, name: str = "kb") -> dict[str, list[str]]:
    """For every CLI flag, the commands (paths without the leading `kb `) that take it."""
    found: dict[str, list[str]] = {}
    for path, command, _ctx in iter_commands(group, name):
        if isinstance(command, click.Group):
            continue
        short = path.split(" ", 1)[1] if " " in path else path
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    found.setdefault(opt, []).append(short)
    return found


def render_settings_table(group: click.Command | None = None) -> str:
    """The README's table: every KB_* variable, its flag, the commands taking the flag, its default."""
    from kb.config import SETTINGS

    if group is None:
        from kb.cli.main import main

        group = main
    commands = settings_commands(group)
    every = {path.split(" ", 1)[1] for path, command, _ in iter_commands(group) if " " in path and not isinstance(command, click.Group)}
    rows = [
        TABLE_BEGIN,
        "",
        "| variable | CLI flag | on commands | default | what it sets |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        takers = commands.get(s.flag, []) if s.flag else []
        if not s.flag:
            where = "—"
        elif set(takers) == every:
            where = "all"
        else:
            where = ", ".join(f"`{c}`" for c in sorted(takers)) or "—"
        flag = f"`{s.flag}`" if s.flag else "—"
        default = s.default if " " in s.default else f"`{s.default}`"  # a value in code type, a description in words
        rows.append(f"| `{s.variable}` | {flag} | {where} | {default} | {s.help} |")
    rows += ["", TABLE_END]
    return "\n".join(rows)


def update_readme(path: Path) -> bool:
    """Replace the generated settings table in README.md; True if the file changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path}: the settings table markers are missing:\n{TABLE_BEGIN}\n...\n{TABLE_END}")
    new = text[:start] + render_settings_table() + text[end + len(TABLE_END):]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    from kb.cli.main import main

    if "--settings-table" in sys.argv[1:]:
        print(render_settings_table(main))
    elif "--update-readme" in sys.argv[1:]:
        readme = Path(__file__).resolve().parents[2] / "README.md"
        print(f"{readme}: {'updated' if update_readme(readme) else 'already up to date'}", file=sys.stderr)
    else:
        sys.stdout.write(render_reference(main))
