"""Test data written by code: see README.md in this folder."""
