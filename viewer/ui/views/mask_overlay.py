"""Finding masks drawn over the image slice: one translucent layer per finding, in patient space.

Each mask stays cropped to its bounding box; the reslice mapper cuts it along the view's plane
and shows nothing where the plane misses it (a slice mapper would clamp to the nearest mask
slice and draw a lesion on planes that do not cross it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import vtkImageProperty, vtkImageSlice
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper, vtkImageStack

from viewer.core.findings import Finding, Status
from viewer.core.volume import Volume
from viewer.ui.views.vtk_convert import placement

STATUS_RGBA = {Status.PROPOSED: (1.0, 0.55, 0.1, 0.40), Status.ACCEPTED: (0.2, 0.85, 0.35, 0.40),
               Status.REJECTED: (0.6, 0.6, 0.6, 0.15)}


def _lookup(rgba: tuple[float, float, float, float]) -> vtkLookupTable:
    table = vtkLookupTable()
    table.SetNumberOfTableValues(2)
    table.SetTableRange(0, 1)
    table.SetTableValue(0, 0.0, 0.0, 0.0, 0.0)  # outside the lesion: fully transparent
    table.SetTableValue(1, *rgba)
    table.Build()
    return table


def mask_layer(finding: Finding, volume: Volume, layer: int) -> vtkImageSlice:
    """One finding's mask as an image slice placed like the volume, drawn over layer 0."""
    mask = np.ascontiguousarray(finding.region.mask.astype(np.uint8))
    k0, j0, i0 = finding.region.offset
    img = vtkImageData()
    img.SetDimensions(mask.shape[2], mask.shape[1], mask.shape[0])
    img.SetSpacing(*volume.spacing)
    si, sj, sk = volume.spacing
    img.SetOrigin(i0 * si, j0 * sj, k0 * sk)
    img.GetPointData().SetScalars(numpy_support.numpy_to_vtk(mask.reshape(-1), deep=True))
    mapper = vtkImageResliceMapper()
    mapper.SetInputData(img)
    mapper.SliceFacesCameraOn()
    mapper.SliceAtFocalPointOn()
    mapper.BorderOn()  # draw the edge voxels whole: a cropped mask would lose half a voxel each side
    prop = vtkImageProperty()
    prop.SetLookupTable(_lookup(STATUS_RGBA[finding.status]))
    prop.UseLookupTableScalarRangeOn()
    prop.SetInterpolationTypeToNearest()  # voxel edges: what the model (or reader) marked, not a blur
    prop.SetLayerNumber(layer)
    out = vtkImageSlice()
    out.SetMapper(mapper)
    out.SetProperty(prop)
    out.SetUserMatrix(placement(volume))
    return out


class MaskOverlay:
    """The masks of the shown findings, stacked over the image in ``stack``."""

    def __init__(self, stack: vtkImageStack) -> None:
        self.stack = stack
        self.layers: list[vtkImageSlice] = []
        self.visible = True

    def set(self, findings: Sequence[Finding], volume: Volume | None) -> None:
        """Replace the layers with one per finding of ``volume``."""
        for layer in self.layers:
            self.stack.RemoveImage(layer)
        self.layers = [mask_layer(f, volume, n + 1) for n, f in enumerate(findings)] if volume else []
        for layer in self.layers:
            layer.SetVisibility(self.visible)
            self.stack.AddImage(layer)

    def set_visible(self, visible: bool) -> None:
        """Show or hide every mask (the reader may want the bare image)."""
        self.visible = visible
        for layer in self.layers:
            layer.SetVisibility(visible)
