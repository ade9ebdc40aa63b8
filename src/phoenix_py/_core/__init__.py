"""The protocol core: pure data and state machines, no I/O.

Nothing in this package imports asyncio, a transport or a pubsub adapter
(``tests/test_layers.py`` checks it). A test drives it with values in and
values out.
"""
