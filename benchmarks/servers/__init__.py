"""The servers under test, and how the suite starts, watches and stops them."""
