"""Turn stored pixel values into calibrated voxels (HU for CT), in place where possible."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from viewer.io.headers import Frame, PixelInfo


def raw_dtype(px: PixelInfo) -> np.dtype[np.generic]:
    """numpy dtype of the stored values as they lie in the file."""
    kind = "i" if px.signed else "u"
    order = ">" if px.big_endian else "<"
    return np.dtype(f"{order}{kind}{px.bits_allocated // 8}")


def output_dtype(frames: list[Frame]) -> np.dtype[np.generic]:
    """int16 when every calibrated value fits it exactly; float32 otherwise."""
    for f in frames:
        px = f.file.pixels
        if px.bits_allocated > 16 or f.slope != round(f.slope) or f.intercept != round(f.intercept):
            return np.dtype(np.float32)
        lo, hi = Calibration.of(f).output_range()
        if f.slope != 1 and not (-32768 <= lo and hi <= 32767):
            return np.dtype(np.float32)
    return np.dtype(np.int16)


@dataclass(frozen=True)
class Calibration:
    """How to turn one frame's stored values into output values."""

    slope: float
    intercept: float
    bits_stored: int
    bits_allocated: int
    signed: bool
    invert: bool  # MONOCHROME1: higher stored values are darker

    @staticmethod
    def of(frame: Frame) -> Calibration:
        """Calibration of ``frame``."""
        px = frame.file.pixels
        return Calibration(frame.slope, frame.intercept, px.bits_stored, px.bits_allocated,
                           px.signed, px.photometric == "MONOCHROME1")

    def output_range(self) -> tuple[float, float]:
        """Range of calibrated values that the stored bits allow."""
        lo, hi = stored_range_of(self.bits_stored, self.signed)
        a, b = lo * self.slope + self.intercept, hi * self.slope + self.intercept
        return min(a, b), max(a, b)


def stored_range_of(bits_stored: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest stored value for a bit depth and signedness."""
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


class Overflow(Exception):
    """Calibrated values do not fit the int16 output: reload as float32."""


def _fix_bits(raw: NDArray[np.generic], cal: Calibration) -> None:
    """Clear bits above BitsStored (unsigned) or sign-extend from them (signed), in place."""
    extra = cal.bits_allocated - cal.bits_stored
    if extra <= 0:
        return
    if cal.signed:
        np.left_shift(raw, extra, out=raw)
        np.right_shift(raw, extra, out=raw)
    else:
        np.bitwise_and(raw, (1 << cal.bits_stored) - 1, out=raw)


def calibrate_int16_inplace(slice16: NDArray[np.int16], cal: Calibration) -> None:
    """``slice16`` holds the raw 16-bit stored values; make them calibrated int16 in place."""
    raw = slice16 if cal.signed else slice16.view(np.uint16)
    _fix_bits(raw, cal)
    lo, hi = cal.output_range()
    if not (-32768 <= lo and hi <= 32767):  # the declared range does not fit: check the real one
        real = int(raw.min()) * cal.slope + cal.intercept, int(raw.max()) * cal.slope + cal.intercept
        if cal.invert:
            real = lo + hi - real[0], lo + hi - real[1]
        if min(real) < -32768 or max(real) > 32767:
            raise Overflow()
    # Wrap-around arithmetic in the raw type gives the right int16 bits when the result fits.
    if cal.slope != 1:
        np.multiply(raw, np.array(int(cal.slope)).astype(raw.dtype), out=raw, casting="unsafe")
    if cal.intercept:
        np.add(raw, np.array(int(cal.intercept)).astype(raw.dtype), out=raw, casting="unsafe")
    if cal.invert:
        np.subtract(np.array(int(lo + hi)).astype(np.int16), slice16, out=slice16)


def calibrate_into(out: NDArray[np.generic], raw: NDArray[np.generic], cal: Calibration) -> None:
    """Write calibrated values of decoded ``raw`` (any integer type) into ``out`` (int16 or float32)."""
    if out.dtype == np.int16 and raw.dtype.kind in "iu" and raw.dtype.itemsize == 2:
        out[...] = raw.astype(raw.dtype.newbyteorder("="), copy=False).view(np.int16)
        calibrate_int16_inplace(out, cal)  # type: ignore[arg-type]
        return
    raw = raw.astype(raw.dtype.newbyteorder("="), copy=True)
    if raw.dtype.kind in "iu":
        _fix_bits(raw, cal)
    value = raw.astype(np.float64) * cal.slope + cal.intercept
    if cal.invert:
        lo, hi = cal.output_range()
        value = (lo + hi) - value
    if out.dtype == np.int16:
        if value.min() < -32768 or value.max() > 32767:
            raise Overflow()
        value = np.rint(value)
    out[...] = value
