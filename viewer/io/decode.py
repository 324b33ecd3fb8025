"""Decode compressed (or otherwise non-direct) frames with an explicitly chosen decoder."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from viewer.io.headers import Frame
from viewer.io.pixels import Calibration, Overflow, calibrate_into

FRAMES_PER_TASK = 8  # frames of one multi-frame file decoded per task, so both cores get work

# Decoder per transfer syntax, fastest measured here first (see docs/benchmarks.md). pydicom's
# own pure-Python decoders are slower and hold the GIL.
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
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    names = _PREFERRED.get(transfer_syntax, ("pylibjpeg",))
    try:
        available = set(get_decoder(UID(transfer_syntax)).available_plugins)
    except NotImplementedError:
        return ""
    return next((n for n in names if n in available), "")


def group_by_file(ks: list[int], frames: list[Frame]) -> list[list[int]]:
    """Group slice numbers by the file they come from, in tasks of at most FRAMES_PER_TASK."""
    by_file: dict[str, list[int]] = {}
    for k in ks:
        by_file.setdefault(frames[k].file.path, []).append(k)
    return [group[i:i + FRAMES_PER_TASK] for group in by_file.values()
            for i in range(0, len(group), FRAMES_PER_TASK)]


def decode_frames(frames: list[Frame], ks: list[int], out: NDArray[np.generic]) -> None:
    """Decode the frames ``frames[k]`` for ``k`` in ``ks`` (all from one file) into ``out[k]``.

    The fastest decoder goes first; if it fails (some lack a feature, e.g. 12-bit lossy JPEG),
    pydicom's own choice of decoder gets one more try.
    """
    first = frames[ks[0]]
    indices = [frames[k].index for k in ks]
    error: Exception | None = None
    for plugin in dict.fromkeys((plugin_for(first.file.pixels.transfer_syntax), "")):
        try:
            _decode(frames, ks, out, indices, plugin)
            return
        except (FrameError, Overflow):
            raise
        except Exception as exc:  # decoders raise anything on corrupt streams
            error = exc
    reason = str(error).splitlines()[0][:160] if error else "no decoder"
    raise FrameError(first, f"pixel data could not be decoded ({type(error).__name__}: {reason})")


def _decode(frames: list[Frame], ks: list[int], out: NDArray[np.generic], indices: list[int],
            plugin: str) -> None:
    from pydicom.pixels import iter_pixels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = iter_pixels(frames[ks[0]].file.path, indices=indices, raw=True, decoding_plugin=plugin)
        for k, arr in zip(ks, arrays, strict=True):
            _store(frames[k], arr, out[k])


def _store(frame: Frame, arr: NDArray[np.generic], dest: NDArray[np.generic]) -> None:
    if arr.shape != dest.shape:
        raise FrameError(frame, f"decoded image is {arr.shape}, the header says {dest.shape}")
    calibrate_into(dest, arr, Calibration.of(frame))
