"""The README's settings table, generated from ``shared.settings.SETTINGS`` (the one list).

``python -m shared.settings_doc``                 prints the block (markers included) to paste into README.md
``python -m shared.settings_doc --write README.md`` replaces the block between the markers in place
``python -m shared.settings_doc --check README.md`` exits 1 when the README's block is not what SETTINGS gives

``tests/unit/test_settings_consistency.py`` fails the build when the README's table and SETTINGS differ.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from shared.settings import LOCAL_ONLY_SETTINGS, SETTINGS, Setting

START_MARKER = "<!-- settings:start -->"
END_MARKER = "<!-- settings:end -->"
HEADER = ("Setting", "Required", "Default", "Secret", "Description")
NO_DEFAULT = "—"


def _cell(text: str) -> str:
    """A markdown table cell: pipes and angle brackets escaped, line breaks flattened."""
    escaped = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(escaped.split())


def _default(setting: Setting) -> str:
    if setting.default is None:
        return NO_DEFAULT
    if setting.default == "":
        return "(empty)"
    return f"`{setting.default}`"


def render_row(setting: Setting, *, local_only: bool = False) -> str:
    """One table row for ``setting`` (``local_only``: read by the local host only)."""
    cells = (
        f"`{setting.name}`",
        "local only" if local_only else "yes" if setting.required else "no",
        _default(setting),
        "yes" if setting.secret else "no",
        _cell(setting.description),
    )
    return "| " + " | ".join(cells) + " |"


def render_table(settings: Iterable[Setting] = SETTINGS) -> str:
    """The markdown table of ``settings``, in declaration order, then the local-only ones (no markers)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
    lines.extend(render_row(s) for s in settings)
    lines.extend(render_row(s, local_only=True) for s in LOCAL_ONLY_SETTINGS)
    return "\n".join(lines)


def render_block(settings: Iterable[Setting] = SETTINGS) -> str:
    """The table between its markers, as it stands in README.md."""
    return f"{START_MARKER}\n{render_table(settings)}\n{END_MARKER}"


def extract_block(text: str) -> str | None:
    """What stands between the markers in ``text`` (stripped), or ``None`` without both markers in order."""
    start = text.find(START_MARKER)
    if start < 0:
        return None
    end = text.find(END_MARKER, start + len(START_MARKER))
    if end < 0:
        return None
    return text[start + len(START_MARKER):end].strip()


def replace_block(text: str, settings: Iterable[Setting] = SETTINGS) -> str:
    """``text`` with the block between the markers replaced by the generated table."""
    start = text.find(START_MARKER)
    end = text.find(END_MARKER, start + len(START_MARKER)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise ValueError(f"no {START_MARKER} ... {END_MARKER} block to replace")
    return text[:start] + render_block(settings) + text[end + len(END_MARKER):]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.settings_doc", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", help="replace the block between the markers in FILE")
    group.add_argument("--check", metavar="FILE", help="exit 1 when FILE's block differs from SETTINGS")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(replace_block(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"{path}: settings table refreshed ({len(SETTINGS)} settings)")
        return 0
    if args.check:
        block = extract_block(Path(args.check).read_text(encoding="utf-8"))
        if block is None:
            print(f"{args.check}: no {START_MARKER} ... {END_MARKER} block", file=sys.stderr)
            return 1
        if block != render_table():
            print(f"{args.check}: settings table is stale: run python -m shared.settings_doc --write {args.check}",
                  file=sys.stderr)
            return 1
        print(f"{args.check}: settings table up to date")
        return 0
    print(render_block())
    return 0


if __name__ == "__main__":
    sys.exit(main())
