"""Errors meant for people: raised by any stage, printed by the CLI without a traceback."""


class UserError(Exception):
    """Bad input or an impossible request. The message names the file/record, the problem and the fix."""
