"""`python -m webtext.cli` (what torchrun runs: torchrun ... -m webtext.cli train ...)."""

from webtext.cli import main

main()
