"""Organiser accounts."""
