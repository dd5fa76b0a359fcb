"""Command-line words argparse would misread, put in the form it reads.

argparse takes ``-5s`` after ``--interval`` for an option of its own and answers
"expected one argument", which names neither the value nor what is wrong with it. A
negative duration is a value, refused later with the reason (it must be greater than
zero), so it is attached to its flag (``--interval=-5s``) before parsing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["attach_negative_values"]

# Flags whose value is a duration, so may be written with a minus sign.
_DURATION_FLAGS = frozenset({"--interval"})
_NEGATIVE = re.compile(r"-[0-9.]")


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    """``argv`` with each ``FLAG -VALUE`` of a duration flag as ``FLAG=-VALUE``."""
    words: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else None
        if word == "--":
            words.extend(argv[index:])
            break
        if word in _DURATION_FLAGS and following is not None and _NEGATIVE.match(following):
            words.append(f"{word}={following}")
            index += 2
            continue
        words.append(word)
        index += 1
    return words
