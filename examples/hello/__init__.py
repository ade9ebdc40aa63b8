"""The getting-started app of ``docs/getting-started.md``."""
