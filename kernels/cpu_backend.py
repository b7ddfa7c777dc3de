"""The CPU backend: Numba (njit, parallel) kernels behind the public API's call shapes."""

from kernels.ed25519_cpu import ed25519_verify_batch
from kernels.ed25519_sign_cpu import ed25519_sign_batch
from kernels.sha256_cpu import merkle_root, sha256_batch

__all__ = ["ed25519_sign_batch", "ed25519_verify_batch", "merkle_root", "sha256_batch"]
