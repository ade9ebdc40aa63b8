"""The contract's LiveView pages (shared/conformance/LIVE_CONTRACT.md), on phoenix_py.live."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from phoenix_py import Broadcast, Endpoint
from phoenix_py.live import Live, LiveComponent, LivePage, LiveSession, LiveView
from phoenix_py.live.uploads import UploadEntry

from .roster import Roster

ASSETS = Path(__file__).resolve().parent / "assets"
CLIENT_BUILDS = {
    "phoenix.js": ASSETS / "node_modules" / "phoenix" / "priv" / "static" / "phoenix.js",
    "phoenix_live_view.js": (
        ASSETS / "node_modules" / "phoenix_live_view" / "priv" / "static" / "phoenix_live_view.js"
    ),
    "app.js": ASSETS / "app.js",
}


def layout(page: LivePage) -> str:
    scripts = "".join(f'<script defer src="/lv-assets/{name}"></script>' for name in CLIENT_BUILDS)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="csrf-token" content="{escape(page.csrf_token)}">'
        f"<title>{escape(page.title)}</title>{scripts}</head>\n"
        f"<body>\n{page.content}\n</body></html>"
    )


async def asset(request: Request) -> Response:
    path = CLIENT_BUILDS.get(request.path_params["name"])
    if path is None or not path.is_file():
        return Response("not found (run `bash scripts/setup contract`)", status_code=404)
    return FileResponse(path, media_type="text/javascript")


# 1. Counter


class Counter(LiveView):
    template_file = "templates/counter.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.set_count(0)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "inc":
            self.set_count(self.assigns["count"] + int(value["by"]))
        elif event == "reset":
            self.set_count(0)

    def set_count(self, count: int) -> None:
        self.assign(count=count, page_title=f"Count: {count}")


# 2. Form


class Form(LiveView):
    template_file = "templates/form.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(name="", email="", name_error="", email_error="", target="", result="")

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        found = value.get("user")
        user: dict[str, Any] = found if isinstance(found, dict) else {}
        name, email = str(user.get("name", "")), str(user.get("email", ""))
        errors = {
            "name": "" if len(name) >= 3 else "name is too short",
            "email": "" if "@" in email else "email is invalid",
        }
        if event == "validate":
            used = {field: f"_unused_{field}" not in user for field in errors}
            target = value.get("_target")
            self.assign(
                name=name,
                email=email,
                target=".".join(target) if isinstance(target, list) else "",
                name_error=errors["name"] if used["name"] else "",
                email_error=errors["email"] if used["email"] else "",
            )
        elif event == "save":
            valid = not any(errors.values())
            self.assign(
                name=name,
                email=email,
                name_error=errors["name"],
                email_error=errors["email"],
                result=f"Saved {name} <{email}>" if valid else "",
            )


# 3. Keyed list


class KeyedList(LiveView):
    template_file = "templates/keyed_list.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(rows=[{"id": n, "name": f"Row {n}"} for n in range(1, 501)], last_id=500)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        rows: list[dict[str, Any]] = self.assigns["rows"]
        if event == "add":
            new_id = self.assigns["last_id"] + 1
            self.assign(rows=[*rows, {"id": new_id, "name": str(value.get("name", ""))}])
            self.assign(last_id=new_id)
            return
        row_id = _int(value.get("id", value.get("row_id")))
        if event == "rename":
            name = str(value.get("name", ""))
            self.assign(rows=[{**r, "name": name} if r["id"] == row_id else r for r in rows])
        elif event == "top":
            moved = [r for r in rows if r["id"] == row_id]
            self.assign(rows=[*moved, *(r for r in rows if r["id"] != row_id)])
        elif event == "remove":
            self.assign(rows=[r for r in rows if r["id"] != row_id])


# 4. Stream


class StreamPage(LiveView):
    template_file = "templates/stream_page.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.ids = itertools.count(4)
        self.stream("items", [{"id": n, "text": f"Item {n}"} for n in (1, 2, 3)])

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "delete":
            self.stream_delete_by_dom_id("items", str(value.get("dom-id", "")))
            return
        n = next(self.ids)
        if event == "append":
            self.stream_insert("items", {"id": n, "text": f"Item {n}"})
        elif event == "prepend":
            self.stream_insert("items", {"id": n, "text": f"Item {n}"}, at=0)
        elif event == "append-limited":
            self.stream_insert("items", {"id": n, "text": f"Item {n}"}, limit=-5)
        elif event == "reset":
            self.stream("items", [{"id": n, "text": f"Fresh {n}"}], reset=True)


# 5. Live patch


class Patch(LiveView):
    template_file = "templates/patch.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(mount_id=secrets.token_hex(6), params_calls=0)

    async def handle_params(self, params: dict[str, Any], url: str) -> None:
        self.assign(
            page=str(params.get("page", "1")), params_calls=self.assigns["params_calls"] + 1
        )

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "go":
            self.push_patch(f"/lv/patch?page={_int(value.get('page'))}")


# 6. Live navigation


class NavA(LiveView):
    template_file = "templates/nav_a.html"

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "go":
            self.push_navigate("/lv/nav/b")


class NavB(LiveView):
    template_file = "templates/nav_b.html"


class Solo(LiveView):
    template_file = "templates/solo.html"


# 7. Events and hooks


class Events(LiveView):
    template_file = "templates/events.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(pings=0)

    async def handle_event(self, event: str, value: dict[str, Any]) -> Any:
        if event == "ping":
            self.assign(pings=self.assigns["pings"] + 1)
            self.push_event("pong", {"n": self.assigns["pings"]})
            return None
        if event == "calc":
            return {"sum": value["a"] + value["b"]}
        return None


# 8. Room


class Said(NamedTuple):
    """A message as the room's views stream it: immutable, so its entry is rendered
    once for all the views of this instance."""

    id: str
    name: str
    body: str


class Room(LiveView):
    """Both lists are streams, and who is here comes from the room's ``Roster``,
    shared by its views: a view keeps the version its page shows, not the names,
    and a join or a message sends that one entry."""

    template_file = "templates/room.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.topic = f"lv_room:{params['room']}"
        self.name = str(params.get("name", "")) or f"anon-{secrets.token_hex(4)}"
        self.roster: Roster | None = None
        self.stream("messages", [])
        self.stream("who", [], dom_id=lambda name: f"who-{name}")
        if self.connected:
            self.roster = self.state.rosters.join(self.topic)  # subscribed before the view
            self.subscribe(self.topic)
            self.track(self.state.presence, self.topic, self.name, {})
            self.shown = self.roster.version
            self.stream("who", self.roster.names)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "post":
            message = {"id": secrets.token_hex(8), "name": self.name, "body": value.get("body")}
            await self.broadcast(self.topic, "message", message)

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, Broadcast) and message.event == "presence_diff":
            self.catch_up()
        elif isinstance(message, Broadcast) and message.event == "message":
            said = message.payload
            self.stream_insert("messages", Said(said["id"], said["name"], said["body"] or ""))

    def catch_up(self) -> None:
        """The page shows the roster at ``shown``: bring it to now (the roster has
        applied the diff already; later diffs may have come too, then they are no-ops)."""
        if self.roster is None:
            return
        change = self.roster.since(self.shown)
        self.shown = self.roster.version
        if change.reset:
            self.stream("who", self.roster.names, reset=True)
            return
        for name in change.leaves:
            self.stream_delete_by_dom_id("who", f"who-{name}")
        for name, at in change.joins:
            self.stream_insert("who", name, at=at)

    async def terminate(self, reason: str | BaseException) -> None:
        if self.roster is not None:
            self.state.rosters.leave(self.roster)


# 9. Uploads


class Upload(LiveView):
    template_file = "templates/upload.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.allow_upload(
            "doc", accept="any", max_entries=2, max_file_size=100_000, auto_upload=True
        )
        self.assign(uploaded=[])

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "save":
            files = self.consume_uploaded_entries("doc", describe)
            self.assign(uploaded=[*self.assigns["uploaded"], *files])


def describe(path: Path, entry: UploadEntry) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "name": entry.client_name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# 10. LiveComponents


class CounterComponent(LiveComponent):
    template_file = "templates/counter_component.html"

    def mount(self) -> None:
        self.assign(value=0)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "inc":
            self.assign(value=self.assigns["value"] + 1)


class Components(LiveView):
    template_file = "templates/components.html"
    components: ClassVar[dict[str, type[LiveComponent]]] = {"CounterComponent": CounterComponent}

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=0, show_c2=True)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "inc":
            self.assign(count=self.assigns["count"] + 1)
        elif event == "toggle":
            self.assign(show_c2=not self.assigns["show_c2"])


# 11. Crash


class Crash(LiveView):
    template_file = "templates/crash.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=0)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "boom":
            raise RuntimeError("the client asked this view to crash")
        self.assign(count=self.assigns["count"] + 1)


# 12. Async


class Async(LiveView):
    template_file = "templates/async.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign_async("answer", answer)
        self.assign_async("broken", broken)


async def answer() -> int:
    await asyncio.sleep(1)
    return 42


async def broken() -> int:
    await asyncio.sleep(0.2)
    raise RuntimeError("this work fails on purpose")


# 13. Flash


class Flash(LiveView):
    template_file = "templates/flash.html"

    async def handle_params(self, params: dict[str, Any], url: str) -> None:
        self.assign(via=str(params.get("via", "")))

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "notify":
            self.put_flash("info", "Saved!")
        elif event == "notify-nav":
            self.put_flash("info", "Moved!")
            self.push_navigate("/lv/flash?via=nav")


# 14. JS commands


class JsCommands(LiveView):
    template_file = "templates/js_commands.html"

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=0)

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "inc":
            self.assign(count=self.assigns["count"] + int(value.get("by", 1)))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


#: The client builds and app.js the live pages load.
ASSET_ROUTES: list[BaseRoute] = [Route("/lv-assets/{name}", asset)]


def contract_live(endpoint: Endpoint, secret_key: str) -> Live:
    """The live pages of LIVE_CONTRACT.md (``live.routes()`` serves them)."""
    return Live(
        endpoint,
        [
            LiveSession(
                "contract",
                [
                    ("/lv/counter", Counter),
                    ("/lv/form", Form),
                    ("/lv/list", KeyedList),
                    ("/lv/stream", StreamPage),
                    ("/lv/patch", Patch),
                    ("/lv/nav/a", NavA),
                    ("/lv/nav/b", NavB),
                    ("/lv/events", Events),
                    ("/lv/components", Components),
                    ("/lv/upload", Upload),
                    ("/lv/room/{room}", Room),
                    ("/lv/crash", Crash),
                    ("/lv/async", Async),
                    ("/lv/flash", Flash),
                    ("/lv/js", JsCommands),
                ],
            ),
            LiveSession("solo", [("/lv/solo", Solo)]),
        ],
        secret_key=secret_key,
        layout=layout,
        check_origin=False,
    )
