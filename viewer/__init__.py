"""Lumen: a reading workstation for tumour CT/MR cases with local AI assistance."""

__version__ = "0.1.0"
PRODUCT_NAME = "Lumen"
