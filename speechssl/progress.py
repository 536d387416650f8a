"""The one place progress bars are made: tqdm on a terminal, silence in logs.

When stderr is not a terminal (a log file, a pipe, a batch job) a bar's carriage-return redraws would
fill the log, so bars are off there; ``SPEECHSSL_PROGRESS=1`` keeps them, redrawn at most once a minute.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable

from tqdm import tqdm

ProgressBar = tqdm
LOG_MININTERVAL = 60.0  # seconds between redraws when bars are kept in a log


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def progress_bar(iterable: Iterable | None = None, *, disable: bool = False, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, off when stderr is not a terminal (see the module docstring)."""
    if not _stderr_is_terminal():
        if os.environ.get("SPEECHSSL_PROGRESS") != "1":
            disable = True
        else:
            kwargs["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), LOG_MININTERVAL)
    return tqdm(iterable, disable=disable, **kwargs)
