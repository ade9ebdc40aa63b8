"""phoenix_py.dashboard: a live dashboard of the app, itself a phoenix_py.live page.

``Dashboard(endpoint, guard=..., secret_key=..., client_scripts=...)`` and its
``routes()`` (see ``mount``); ``StatsCollector`` (``collector``) is what it
counts, from the telemetry events; ``NodeBoard`` and ``NodePublisher``
(``nodes``) carry every node's numbers to every node. docs/dashboard.md.
"""

from ._guard import Guard
from .collector import StatsCollector
from .mount import Dashboard
from .nodes import TOPIC, NodeBoard, NodePublisher

__all__ = ["TOPIC", "Dashboard", "Guard", "NodeBoard", "NodePublisher", "StatsCollector"]
