"""The contract app (``examples/contract``) under the suite's uvicorn settings.

The same app as ``python -m examples.contract`` (in-memory pubsub, Presence,
LongPoll, a ``bench:*`` channel whose join replies ``{}``), served as every
built-in server is: uvloop, httptools, ``ws_ping_interval=None``, lifespan on,
log level warning. The suite's ``contract`` server is the app's own launcher
as it is (uvicorn's defaults: a WebSocket ping every 20 s); this one isolates
what the launcher's settings cost. Run by the suite as::

    python -m benchmarks.servers.contract_server --port 4000 [--ws direct|asgi]
"""

from __future__ import annotations

from benchmarks.servers.common import arguments, serve
from benchmarks.servers.phoenix_py_server import websocket_protocol
from examples.contract.app import create_app


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--ws", choices=("asgi", "direct"), default="direct")
    args = parser.parse_args()
    serve(create_app(), args, websocket_protocol(args.ws))


if __name__ == "__main__":
    main()
