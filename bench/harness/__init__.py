"""The weft benchmark harness (see bench/README.md). Standard library only."""
