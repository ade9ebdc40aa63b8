"""Transports move frames between a client and a ``SocketServer``."""
