"""DICOM and NIfTI in/out. Headless: no Qt, no VTK, no torch."""
