"""Decode compressed (or otherwise non-direct) frames with an explicitly chosen decoder.

Work is described as (frame, slice) pairs: decode ``frame`` into ``out[slice]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from viewer.io import shared_array
from viewer.io.headers import DEFLATED, Frame
from viewer.io.pixels import Calibration, Overflow, calibrate_into

FRAMES_PER_TASK = 8  # frames per task: enough to hide the cost of a task, few enough to balance

Pair = tuple[Frame, int]

# Decoder per transfer syntax, fastest measured here first (see docs/benchmarks.md); others
# default to pylibjpeg. pydicom's own pure-Python decoders are slower.
_PREFERRED = {
    "1.2.840.10008.1.2.4.80": ("pyjpegls", "pylibjpeg"),  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": ("pyjpegls", "pylibjpeg"),  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.5": ("pylibjpeg", "pydicom"),  # RLE lossless
}


class FrameError(Exception):
    """A frame could not be decoded."""

    def __init__(self, frame: Frame, reason: str) -> None:
        super().__init__(reason)
        self.frame, self.reason = frame, reason


def plugin_for(transfer_syntax: str) -> str:
    """The decoder plugin to use for ``transfer_syntax`` ('' lets pydicom choose)."""
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import UID

    names = _PREFERRED.get(transfer_syntax, ("pylibjpeg",))
    try:
        available = set(get_decoder(UID(transfer_syntax)).available_plugins)
    except NotImplementedError:
        return ""
    return next((n for n in names if n in available), "")


def _by_file(pairs: Sequence[Pair]) -> list[list[Pair]]:
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair[0].file.path, []).append(pair)
    return list(groups.values())


def tasks(pairs: Sequence[Pair]) -> list[list[Pair]]:
    """Pack pairs into tasks of about FRAMES_PER_TASK frames, keeping each file's frames together."""
    packed: list[list[Pair]] = [[]]
    for group in _by_file(pairs):
        for i in range(0, len(group), FRAMES_PER_TASK):
            if len(packed[-1]) >= FRAMES_PER_TASK:
                packed.append([])
            packed[-1].extend(group[i:i + FRAMES_PER_TASK])
    return [t for t in packed if t]


def decode_pairs(pairs: Sequence[Pair], out: NDArray[np.generic]) -> None:
    """Decode every pair into ``out``; raises FrameError or Overflow."""
    for group in _by_file(pairs):
        _decode_file(group, out)


def _decode_file(group: list[Pair], out: NDArray[np.generic]) -> None:
    """One file's frames. The fastest decoder goes first; if it fails (some lack a feature, e.g.
    12-bit lossy JPEG), pydicom's own choice of decoder gets one more try."""
    first = group[0][0]
    error: Exception | None = None
    for plugin in dict.fromkeys((plugin_for(first.file.pixels.transfer_syntax), "")):
        try:
            _decode(group, out, plugin)
            return
        except (FrameError, Overflow):
            raise
        except Exception as exc:  # decoders raise anything on corrupt streams
            error = exc
    reason = str(error).splitlines()[0][:160] if error else "no decoder"
    raise FrameError(first, f"pixel data could not be decoded ({type(error).__name__}: {reason})")


def _decode(group: list[Pair], out: NDArray[np.generic], plugin: str) -> None:
    from pydicom.pixels.utils import iter_pixels

    indices = [frame.index for frame, _ in group]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source: Any = group[0][0].file.path
        if group[0][0].file.pixels.transfer_syntax == DEFLATED:  # size checked by the scan
            import pydicom

            source = pydicom.dcmread(source)  # iter_pixels cannot inflate a file by itself
        arrays = iter_pixels(source, indices=indices, raw=True, decoding_plugin=plugin)
        for (frame, k), arr in zip(group, arrays, strict=True):
            if arr.shape != out.shape[1:]:
                raise FrameError(frame, f"decoded image is {arr.shape}, the header says {out.shape[1:]}")
            calibrate_into(out[k], arr, Calibration.of(frame))


def decode_task(pairs: list[Pair], shared: str, shape: tuple[int, int, int],
                dtype: str) -> tuple[int, str, bool]:
    """Decode ``pairs`` into the shared array at ``shared`` (runs in a worker process).

    Returns (position in ``pairs`` of a failing frame or -1, reason, overflowed): plain values,
    because custom exceptions do not survive the trip back between processes.
    """
    try:
        decode_pairs(pairs, shared_array.attach(shared, shape, dtype))
    except Overflow:
        return -1, "", True
    except FrameError as exc:
        return next(i for i, (f, _) in enumerate(pairs) if f is exc.frame), exc.reason, False
    return -1, "", False
