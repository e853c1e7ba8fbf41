"""``python -m app`` is the ``tocsin`` command."""

from app.cli import main

main()
