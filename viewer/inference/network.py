"""A compact 3-D U-Net (plain torch) for lesion segmentation on anisotropic CT.

GroupNorm rather than BatchNorm: with the small batches a CPU affords, BatchNorm's train and eval
statistics disagree badly. The first down-sampling is in-plane only, because slices are thicker
than pixels are wide.

An optional smoothed copy of some input channels (a fixed Gaussian, not learned) is fed beside
them: a metastasis 10-20 HU darker than the liver in noise of 10-16 HU barely shows voxel by
voxel, and max-pooling noisy features loses such a faint shift in the mean before the deeper
levels can average it. The copy is multiplied by ``smooth_gain`` before the first layer: Adam moves
every weight by about the same step, so a gain of g lets a fine-tune grow that input's
contribution g times as fast as the other inputs' (its weights start at zero).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_SMOOTH_SIGMA_VOX = (0.7, 2.0, 2.0)  # (z, y, x) voxels: 1.75 x 2.8 x 2.8 mm on the shipped grid


def _block(cin: int, cout: int) -> nn.Sequential:
    groups = max(1, cout // 8)
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.LeakyReLU(0.01, inplace=True),
        nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.LeakyReLU(0.01, inplace=True),
    )


class GaussianSmooth(nn.Module):
    """Separable Gaussian of ``sigma_zyx`` voxels per channel, edges replicated, in float32 whatever
    the autocast (bfloat16 would round a 340 HU window to steps of about 1 HU before averaging)."""

    def __init__(self, sigma_zyx: tuple[float, float, float]) -> None:
        super().__init__()
        if len(sigma_zyx) != 3 or min(sigma_zyx) <= 0:
            raise ValueError(f"smoothing needs three positive sigmas (z, y, x); got {sigma_zyx}")
        self.sigma_zyx = tuple(float(s) for s in sigma_zyx)
        self.radii = tuple(max(1, math.ceil(3 * s)) for s in sigma_zyx)
        for axis, (s, r) in enumerate(zip(sigma_zyx, self.radii)):
            t = torch.arange(-r, r + 1, dtype=torch.float32)
            k = torch.exp(-0.5 * (t / s) ** 2)
            shape = [1, 1, 1, 1, 1]
            shape[2 + axis] = 2 * r + 1
            # not persistent: fixed by the architecture, so state dicts hold learned weights only
            self.register_buffer(f"kernel{axis}", (k / k.sum()).reshape(shape), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        with torch.autocast(x.device.type, enabled=False):
            y = x.float().reshape(n * c, 1, *x.shape[2:])
            for axis, r in enumerate(self.radii):
                pad = [0, 0, 0, 0, 0, 0]
                pad[4 - 2 * axis] = pad[5 - 2 * axis] = r  # F.pad lists the last axis (x) first
                y = F.conv3d(F.pad(y, pad, mode="replicate"), getattr(self, f"kernel{axis}"))
        return y.reshape(n, c, *x.shape[2:])


class UNet3D(nn.Module):
    """Encoder-decoder with skip connections.

    Parameters
    ----------
    in_channels, out_channels
        Input channels (intensity windows) and output classes (logits).
    widths
        Channels per level, shallow to deep.
    strides
        Down-sampling factor (z, y, x) between consecutive levels.
    smooth_channels, smooth_sigma_vox, smooth_gain
        Input channels whose Gaussian-smoothed copies (sigma in voxels, z y x), times the gain, are
        appended to the input; none by default.
    """

    def __init__(self, in_channels: int = 2, out_channels: int = 4,
                 widths: tuple[int, ...] = (16, 32, 64, 128),
                 strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (2, 2, 2), (2, 2, 2)),
                 smooth_channels: tuple[int, ...] = (),
                 smooth_sigma_vox: tuple[float, float, float] = DEFAULT_SMOOTH_SIGMA_VOX,
                 smooth_gain: float = 1.0) -> None:
        super().__init__()
        if len(strides) != len(widths) - 1:
            raise ValueError(f"need {len(widths) - 1} strides for {len(widths)} levels; got {len(strides)}")
        if any(not 0 <= c < in_channels for c in smooth_channels) or len(set(smooth_channels)) != len(smooth_channels):
            raise ValueError(f"smooth_channels must be distinct input channels below {in_channels}; "
                             f"got {list(smooth_channels)}")
        if isinstance(smooth_gain, bool) or not isinstance(smooth_gain, (int, float)) \
                or not (math.isfinite(smooth_gain) and smooth_gain > 0):
            raise ValueError(f"smooth_gain must be a positive number; got {smooth_gain!r}")
        if smooth_gain != 1.0 and not smooth_channels:
            raise ValueError("smooth_gain scales the smoothed input: give smooth_channels too")
        self.strides = strides
        self.smooth_gain = float(smooth_gain)
        self.smooth_channels = list(smooth_channels)
        self.smooth = GaussianSmooth(smooth_sigma_vox) if smooth_channels else None
        self.down = nn.ModuleList([_block(in_channels + len(smooth_channels), widths[0])])
        self.down.extend(_block(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.pool = nn.ModuleList(nn.MaxPool3d(s, s) for s in strides)
        self.upconv = nn.ModuleList(nn.ConvTranspose3d(b, a, s, s) for a, b, s in
                                    zip(widths[:-1], widths[1:], strides))
        self.up = nn.ModuleList(_block(2 * a, a) for a in widths[:-1])
        self.head = nn.Conv3d(widths[0], out_channels, 1)

    @property
    def divisor(self) -> tuple[int, int, int]:
        """Input sizes must be multiples of this along (z, y, x)."""
        d = [1, 1, 1]
        for s in self.strides:
            d = [a * b for a, b in zip(d, s)]
        return d[0], d[1], d[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.smooth is not None:
            smoothed = self.smooth(x[:, self.smooth_channels])
            if self.smooth_gain != 1.0:
                smoothed = smoothed * self.smooth_gain
            x = torch.cat([x, smoothed.to(x.dtype)], dim=1)
        skips = []
        for n, block in enumerate(self.down):
            x = block(x)
            if n < len(self.pool):
                skips.append(x)
                x = self.pool[n](x)
        for n in reversed(range(len(self.up))):
            x = self.up[n](torch.cat([self.upconv[n](x), skips[n]], dim=1))
        out: torch.Tensor = self.head(x)
        return out
