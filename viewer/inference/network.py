"""A compact 3-D U-Net (plain torch) for lesion segmentation on anisotropic CT.

GroupNorm rather than BatchNorm: with the small batches a CPU affords, BatchNorm's train and eval
statistics disagree badly. The first down-sampling is in-plane only, because slices are thicker
than pixels are wide.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    groups = max(1, cout // 8)
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.LeakyReLU(0.01, inplace=True),
        nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.LeakyReLU(0.01, inplace=True),
    )


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
    """

    def __init__(self, in_channels: int = 2, out_channels: int = 4,
                 widths: tuple[int, ...] = (16, 32, 64, 128),
                 strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (2, 2, 2), (2, 2, 2))) -> None:
        super().__init__()
        if len(strides) != len(widths) - 1:
            raise ValueError(f"need {len(widths) - 1} strides for {len(widths)} levels; got {len(strides)}")
        self.strides = strides
        self.down = nn.ModuleList([_block(in_channels, widths[0])])
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
