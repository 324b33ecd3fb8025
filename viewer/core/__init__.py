"""Pure-Python core: geometry, volumes, problems. No Qt, VTK, torch or DICOM libraries here."""
