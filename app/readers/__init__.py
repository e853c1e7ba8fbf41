"""Readers' pages."""
