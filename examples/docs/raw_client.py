"""A client without phoenix.js: the V2 protocol by hand (docs/getting-started.md).

With ``uvicorn examples.hello.app:app --port 4000`` running, run
``python -m examples.docs.raw_client``.
"""

from __future__ import annotations

import asyncio
import json

import websockets

URL = "ws://127.0.0.1:4000/socket/websocket?user=alice&vsn=2.0.0"


async def main(url: str = URL) -> None:
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps(["1", "1", "room:lobby", "phx_join", {}]))
        print(await ws.recv())
        # ["1","1","room:lobby","phx_reply",{"response":{"user":"alice"},"status":"ok"}]
        await ws.send(json.dumps(["1", "2", "room:lobby", "new_msg", {"body": "hi"}]))
        print(await ws.recv())  # the broadcast: [null,null,"room:lobby","new_msg",{...}]
        print(await ws.recv())  # the reply: ["1","2","room:lobby","phx_reply",{...}]
        await ws.send(json.dumps([None, "3", "phoenix", "heartbeat", {}]))
        print(await ws.recv())
        # [null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]


if __name__ == "__main__":
    asyncio.run(main())
