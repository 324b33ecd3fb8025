"""VTK views: the only place VTK is imported."""
