"""Errors meant for people: raised by any stage, printed once by the CLI without a traceback.

Every mistake a user can make (a bad spec, unreadable data, an unknown model reference, a busy
project) raises a subclass of :class:`UserError`. ``tailorlm`` catches the family in one place
(``tailorlm.cli.main``), prints the message and exits with the class's ``exit_code``:

====  =====================================================================
code  meaning
====  =====================================================================
0     success
1     the command ran but a check failed: a gate, a registry refusal, a
      changed hash, a diverged training run
2     bad input: tailor.yaml, data files, options, paths (also Click's usage errors)
3     the project is busy: another tailorlm command holds its lock
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "the command ran but a check failed (gate, registry refusal, changed hash, diverged training)",
    2: "bad input: tailor.yaml, data files, options or paths",
    3: "the project is busy: another tailorlm command holds its lock",
    130: "interrupted (Ctrl-C)",
}


class UserError(Exception):
    """Bad input or an impossible request. The message names the file/record, the problem and the fix.

    Attributes:
        exit_code: the process exit status the CLI uses for this error (see :data:`EXIT_CODES`).
    """

    exit_code: int = 2


class CheckFailed(UserError):
    """The command ran but what it checked did not hold (exit status 1)."""

    exit_code = 1
