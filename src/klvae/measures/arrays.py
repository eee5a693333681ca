"""Array plumbing shared by the numeric modules: any array in, the same kind out.

Inputs may be Python lists or scalars, NumPy arrays or torch tensors. All work is done in
torch; results go back as torch tensors when any input was a tensor (device and autograd
kept) and as NumPy otherwise (a 0-d result becomes a NumPy scalar, as in scipy).
"""

from __future__ import annotations

import torch

from klvae.measures._numpy_kernels import CHUNK
from klvae.measures._numpy_path import numeric_array

__all__ = ["to_tensors", "from_tensor", "is_torch", "rowwise"]


def is_torch(*values) -> bool:
    """True when any of `values` is a torch tensor."""
    return any(isinstance(v, torch.Tensor) for v in values)


def _one(value, name: str, device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        t = value
    else:
        a = numeric_array(value, name)
        if not a.flags.writeable:  # torch refuses to alias read-only memory
            a = a.copy()
        t = torch.from_numpy(a)  # 0-d too: keeps float64 (torch.tensor(x.item()) gives float32)
        if a.dtype.kind in "biu":
            t = t.to(torch.float64)
    if not t.is_floating_point():
        t = t.to(torch.float64 if not isinstance(value, torch.Tensor) else torch.get_default_dtype())
    if device is not None and t.device != device:
        t = t.to(device)
    return t


def to_tensors(*values, names: tuple[str, ...]) -> list[torch.Tensor]:
    """Convert `values` to floating tensors of one dtype on one device.

    The device is that of the first tensor input (CPU otherwise); the dtype is the
    promotion of the inputs' floating dtypes, where plain numbers (0-d non-tensors) count
    only when every input is one. Non-numeric input raises ValueError that
    names the argument.
    """
    device = next((v.device for v in values if isinstance(v, torch.Tensor)), None)
    tensors = [_one(v, n, device) for v, n in zip(values, names)]
    # As in torch, plain numbers (0-d, not tensors) follow the arrays' dtype.
    arrays = [t for t, v in zip(tensors, values) if isinstance(v, torch.Tensor) or t.dim()]
    dtype = (arrays or tensors)[0].dtype
    for t in arrays or tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def from_tensor(t: torch.Tensor, torch_out: bool):
    """Give `t` back as a tensor (`torch_out`) or as NumPy (0-d becomes a NumPy scalar)."""
    if torch_out:
        return t
    a = t.detach().cpu().numpy()
    return a[()] if a.ndim == 0 else a


def rowwise(fn, tensors, axis):
    """fn(*chunks) -> values reduced over `axis`, applied to slices of ~CHUNK elements.

    Large batches are cut along the first non-reduced dimension so every temporary stays
    in cache and the allocator reuses it; one 80 MB temporary costs more in page faults
    than the arithmetic done on it.
    """
    t0 = tensors[0]
    if t0.dim() < 2 or t0.numel() <= CHUNK:
        return fn(*tensors)
    dim = 0 if axis != 0 else 1
    rows = max(1, CHUNK * t0.shape[dim] // t0.numel())
    if rows >= t0.shape[dim]:
        return fn(*tensors)
    parts = zip(*(t.split(rows, dim) for t in tensors))
    return torch.cat([fn(*chunk) for chunk in parts], dim if dim < axis else dim - 1)
