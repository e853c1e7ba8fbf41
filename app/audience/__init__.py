"""The audience."""
