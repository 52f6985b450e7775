"""Reading the commands that README.md and docs/ show, as a user would type them."""

from __future__ import annotations

import re
import shlex


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def shell_commands(text: str) -> list[list[str]]:
    """Every command line of the ```sh blocks in `text`, continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                commands.append(argv)
    return commands
