"""Errors a user can cause in `grid_models` (bad file, unknown code): one line, no traceback."""

from testbed.errors import TestbedError


class GridModelError(TestbedError, ValueError):
    """A feeder that cannot be loaded or a study that cannot run, with a one-line reason."""
