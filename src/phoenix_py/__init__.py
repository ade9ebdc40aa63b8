"""phoenix_py: the Phoenix Channels protocol for Python ASGI apps.

The public API is what ``__all__`` lists; every other module is internal.
"""

from ._core.message import Broadcast, Message, Reply
from .asgi import Endpoint, SocketApp
from .channel import Channel, ChannelReply, SocketRef, error, ok, reply, reply_with
from .errors import ConnectionRefused, PhoenixError, ProtocolError, UsageError
from .pubsub import Adapter, MemoryAdapter, MemoryHub, PubSub, Subscriber
from .socket import ConnectInfo, Socket
from .transports.longpoll import LongPollOptions

__all__ = [
    "Adapter",
    "Broadcast",
    "Channel",
    "ChannelReply",
    "ConnectInfo",
    "ConnectionRefused",
    "Endpoint",
    "LongPollOptions",
    "MemoryAdapter",
    "MemoryHub",
    "Message",
    "PhoenixError",
    "ProtocolError",
    "PubSub",
    "Reply",
    "Socket",
    "SocketApp",
    "SocketRef",
    "Subscriber",
    "UsageError",
    "error",
    "ok",
    "reply",
    "reply_with",
]
