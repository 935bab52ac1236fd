"""`python -m adaptlab` (and `accelerate launch -m adaptlab train ...`)."""

from adaptlab.cli import main

main()
