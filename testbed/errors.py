"""The one exception type for user errors in `testbed`: the CLI prints its message as one line."""


class UserError(Exception):
    """Bad input from a user (file, argument, transaction): one-line reason, no traceback."""
