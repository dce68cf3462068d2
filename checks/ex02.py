"""Notebook 02's exercises."""
