"""The kernels' user-error type (a ValueError, so existing callers keep working)."""

from testbed.errors import TestbedError


class KernelError(TestbedError, ValueError):
    """A bad argument to a kernel: unknown backend name, batch parts of different lengths."""
