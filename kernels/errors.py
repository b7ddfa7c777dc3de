"""The kernels' user-error type (a ValueError, so existing callers keep working)."""


class KernelError(ValueError):
    """A bad argument to a kernel: unknown backend name, batch parts of different lengths."""
