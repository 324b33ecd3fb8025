"""Core volumes as VTK data: voxels shared without a copy, placed in LPS by a prop matrix."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkWindowToImageFilter
from vtkmodules.vtkCommonDataModel import vtkImageData

from viewer.core.volume import Volume


def image_data(volume: Volume) -> vtkImageData:
    """The voxels as vtkImageData on an axis-aligned grid with the volume's spacing, origin 0.

    VTK's x index runs fastest, as ``array[k, j, i]`` does in C order, so the buffer is shared.
    Orientation and origin go into :func:`placement`, applied to the prop, so oblique and
    left-handed grids render in patient space without resampling.
    """
    arr = np.ascontiguousarray(volume.array)
    if not arr.dtype.isnative:  # VTK reads native byte order only
        arr = arr.astype(arr.dtype.newbyteorder("="))
    k, j, i = arr.shape
    img = vtkImageData()
    img.SetDimensions(i, j, k)
    img.SetSpacing(*volume.spacing)
    img.SetOrigin(0.0, 0.0, 0.0)
    scalars = numpy_support.numpy_to_vtk(arr.reshape(-1), deep=False)
    scalars.SetName("voxels")
    img.GetPointData().SetScalars(scalars)
    img._lumen_keepalive = arr  # type: ignore[attr-defined]  # VTK does not own a numpy buffer
    return img


def placement(volume: Volume) -> vtkMatrix4x4:
    """Prop matrix taking the image's (x, y, z) mm grid to LPS: the affine with spacing divided out."""
    m = np.eye(4)
    m[:3, :3] = volume.direction
    m[:3, 3] = volume.origin
    out = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, float(m[r, c]))
    return out


def frame_rgb(window: vtkRenderWindow) -> NDArray[np.uint8]:
    """The last rendered frame as an (h, w, 3) uint8 array, top row first (tests, screenshots, reports)."""
    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    out = grab.GetOutput()
    w, h, _ = out.GetDimensions()
    rgb = numpy_support.vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, 3)
    return np.ascontiguousarray(rgb[::-1])
