"""``python -m harness``: the same as the ``harness`` command."""
from harness.commands import main

main()
