"""The code of docs/live.md: a counter, a live room, a component, an upload.

Serve it with ``uvicorn examples.docs.live:app --port 4000
--ws phoenix_py.uvicorn:WebSocketProtocol`` after ``bash scripts/setup contract``
(the page loads the pinned phoenix and phoenix_live_view builds); tested by
``tests/docs/test_live.py`` with ``phoenix_py.live.testing``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from markupsafe import escape
from starlette.applications import Starlette
from starlette.routing import Route

from examples.contract.live import asset
from phoenix_py import Broadcast, Endpoint, PubSub
from phoenix_py.live import Live, LiveComponent, LivePage, LiveSession, LiveView
from phoenix_py.live.uploads import UploadEntry
from phoenix_py.presence import Presence


class Counter(LiveView):
    template = """<p id="count">{{ count }}</p>
<button id="inc" phx-click="inc" phx-value-by="1">+1</button>
<button id="inc10" phx-click="inc" phx-value-by="10">+10</button>"""

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=0, page_title="Counter")

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "inc":
            self.assign(count=self.assigns["count"] + int(value["by"]))


class Room(LiveView):
    template_file = "live_templates/room.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.topic = f"room:{params['room']}"
        self.name = params.get("name") or "guest"
        self.posted = 0
        self.stream("messages", [])  # the page keeps the messages: the view keeps none
        self.assign(room=params["room"], online=[])
        if self.connected:  # the dead render has no socket to receive on
            self.subscribe(self.topic)
            self.track(self.state.presence, self.topic, self.name, {})
            self.assign(online=sorted(self.state.presence.list(self.topic)))

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "post" and value.get("body"):
            self.posted += 1
            message = {
                "id": f"{self.name}-{self.posted}",
                "name": self.name,
                "body": value["body"],
            }
            await self.broadcast(self.topic, "message", message)  # every view, every node

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, Broadcast) and message.event == "message":
            self.stream_insert("messages", message.payload)
        elif isinstance(message, Broadcast) and message.event == "presence_diff":
            self.assign(online=sorted(self.state.presence.list(self.topic)))


class Stars(LiveComponent):
    template = """<div id="stars-{{ id }}">{{ "*" * stars }}
<button id="star-{{ id }}" phx-click="star" phx-target="{{ myself }}">star</button></div>"""

    def mount(self) -> None:
        self.assign(stars=0)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        self.assign(stars=self.assigns["stars"] + 1)


class Gallery(LiveView):
    components: ClassVar[dict[str, type[LiveComponent]]] = {"Stars": Stars}
    template = """{% for photo in photos|keyed("id") %}
<figure><figcaption>{{ photo.title }}</figcaption>{{ live_component(Stars, id=photo.id) }}</figure>
{% endfor %}"""

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(photos=[{"id": "sea", "title": "The sea"}, {"id": "hill", "title": "A hill"}])


class Avatar(LiveView):
    template_file = "live_templates/avatar.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.allow_upload("avatar", accept=[".png", ".jpg"], max_file_size=1_000_000)
        self.assign(saved=[])

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "save":
            self.assign(saved=self.consume_uploaded_entries("avatar", fingerprint))


def fingerprint(path: Path, entry: UploadEntry) -> str:
    return f"{entry.client_name}: {hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def layout(page: LivePage) -> str:
    return (
        "<!DOCTYPE html>\n<html><head>"
        f'<meta name="csrf-token" content="{escape(page.csrf_token)}">'
        f"<title>{escape(page.title)}</title>"
        '<script defer src="/assets/phoenix.js"></script>'
        '<script defer src="/assets/phoenix_live_view.js"></script>'
        '<script defer src="/assets/app.js"></script>'
        f"</head><body>{page.content}</body></html>"
    )


class State:
    def __init__(self, pubsub: PubSub) -> None:
        self.presence = Presence(pubsub)


SECRET = "docs example: a development secret of at least 32 bytes"
pubsub = PubSub()
endpoint = Endpoint(pubsub, state=State(pubsub), secret_key=SECRET)
live = Live(
    endpoint,
    [
        LiveSession(
            "main",
            [("/", Counter), ("/room/{room}", Room), ("/gallery", Gallery), ("/avatar", Avatar)],
        )
    ],
    secret_key=SECRET,
    layout=layout,
)
app = Starlette(routes=[Route("/assets/{name}", asset), *live.routes()], lifespan=endpoint.lifespan)
