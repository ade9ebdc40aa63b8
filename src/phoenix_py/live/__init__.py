"""phoenix_py.live: LiveView in Python, for the unmodified phoenix_live_view 1.2 client.

Views (``LiveView``) with Jinja2-syntax templates compiled for change-tracked
diffs, routed in live sessions (``LiveSession``) and served by ``Live``: the
dead render over HTTP and the ``lv:`` channels over the LiveView socket.
See docs/live.md.
"""

from ._routes import LiveSession
from .app import Live, LivePage, LiveSocket, live_environment
from .component import LiveComponent, live_component
from .view import AsyncResult, LiveView

__all__ = [
    "AsyncResult",
    "Live",
    "LiveComponent",
    "LivePage",
    "LiveSession",
    "LiveSocket",
    "LiveView",
    "live_component",
    "live_environment",
]
