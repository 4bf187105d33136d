"""``python -m pixlspec.cli``: the ``pixlspec`` command."""
from . import main

main(prog_name="pixlspec")
