"""A per-process least-recently-used cache, bounded by a count and optionally by the array bytes
its values hold: images, prepared references and pixel maps differ in size by orders of magnitude
(a 768x512 MS-SSIM reference is ~35 MiB, a codec object a few bytes), so a count alone either
thrashes or overflows memory."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable


def nbytes(obj: Any, depth: int = 0) -> int:
    """Array bytes held by ``obj`` (arrays and tensors inside dataclasses, dicts, lists, tuples)."""
    size = getattr(obj, "nbytes", None)
    if isinstance(size, int):
        return size
    if hasattr(obj, "element_size") and hasattr(obj, "nelement"):           # a torch tensor
        return int(obj.element_size() * obj.nelement())
    if depth > 3:
        return 0
    if isinstance(obj, dict):
        items = obj.values()
    elif isinstance(obj, (list, tuple)):
        items = obj
    elif hasattr(obj, "__dict__"):
        items = vars(obj).values()
    else:
        return 0
    return sum(nbytes(v, depth + 1) for v in items)


class LRU(OrderedDict):
    """At most ``size`` entries and, with ``max_bytes``, at most that many array bytes (the newest
    entry is always kept)."""

    def __init__(self, size: int = 256, max_bytes: int | None = None):
        super().__init__()
        self.size, self.max_bytes = size, max_bytes
        self.sizes: dict[Any, int] = {}

    def get_or(self, key, make: Callable[[], Any]):
        """The value under ``key``, made (and cached) by ``make()`` when absent."""
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if self.max_bytes is not None:
            self.sizes[key] = nbytes(value)
        while len(self) > 1 and (len(self) > self.size or
                                 (self.max_bytes is not None and sum(self.sizes.values()) > self.max_bytes)):
            old, _ = self.popitem(last=False)
            self.sizes.pop(old, None)
        return value

    def clear(self) -> None:
        """Drop every entry (and its recorded size)."""
        super().clear()
        self.sizes.clear()
