"""PySide6 user interface. VTK is used only inside viewer.ui.views."""
