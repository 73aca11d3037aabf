"""The README's shell commands (its ```sh blocks), for the tests that run them as a reader would.

A *command* is one shell command as written (continuation lines and quoted line breaks joined); a
*snippet* is the commands under one comment (``# by amount: ...``), run together by bash. The
README speaks of the default address ``http://127.0.0.1:8000``; the tests serve elsewhere and
replace it (``base=``), and change nothing else.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEFAULT_BASE = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Command:
    text: str  # the command as written, its trailing comment removed
    comment: str  # the comment lines above it (or its trailing comment), joined
    section: str  # the README heading it is under


def _complete(text: str) -> bool:
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quotation: the command goes on on the next line
        return False
    return True


def _without_trailing_comment(line: str) -> tuple[str, str]:
    """(command, comment) of a line's last physical part: ``make run   # what it does``."""
    match = re.search(r"\s+#\s(.*)$", line)
    if match and _complete(line[: match.start()]):
        return line[: match.start()].rstrip(), match.group(1).strip()
    return line, ""


def commands(text: str | None = None) -> list[Command]:
    text = README.read_text() if text is None else text
    found: list[Command] = []
    section, in_block, comment, buffer = "", False, [], ""
    for line in text.splitlines():
        if not in_block:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            elif line.strip() == "```sh":
                in_block, comment, buffer = True, [], ""
            continue
        if line.strip() == "```" and not buffer:
            in_block = False
            continue
        if not buffer:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                if found and found[-1].comment == " ".join(comment):  # a new comment: a new snippet
                    comment = []
                comment.append(stripped.lstrip("#").strip())
                continue
            buffer = line.rstrip()
        else:
            buffer += "\n" + line.rstrip()
        if _complete(buffer):
            command, trailing = _without_trailing_comment(buffer)
            found.append(Command(text=command.strip(), comment=" ".join(comment) or trailing, section=section))
            buffer = ""
            if trailing:
                comment = []
    return found


def snippet(key: str, text: str | None = None) -> list[Command]:
    """The commands under the one comment that contains ``key`` (or the one command that is ``key``)."""
    every = commands(text)
    exact = [command for command in every if command.text == key]
    if exact:
        return exact
    comments = {command.comment for command in every if key in command.comment}
    assert len(comments) == 1, f"{key!r} names {len(comments)} comments of the README's commands: {comments}"
    return [command for command in every if command.comment in comments]


def script(key: str, *, base: str = DEFAULT_BASE) -> str:
    """The snippet as one bash script, the default address replaced by ``base``."""
    return "\n".join(command.text for command in snippet(key)).replace(DEFAULT_BASE, base.rstrip("/"))


def run(key: str, *, base: str = DEFAULT_BASE, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run a snippet with bash (``set -e``), in the project folder; its output as text."""
    kwargs.setdefault("cwd", ROOT)
    done = subprocess.run(
        ["bash", "-c", "set -e\n" + script(key, base=base)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    assert done.returncode == 0, f"{key!r} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done
