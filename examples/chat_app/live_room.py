"""The room page, ``/rooms/<id>``: one LiveView per open room (CHAT_API.md, "Browser page").

What the page shows comes from the same places as for the channel clients,
so that a message, a new room or a presence crosses between both kinds of
client, on one instance or across instances on Redis:

* the messages: the last 50 from the store, then every ``new_message``
  broadcast on ``room:<id>`` (the topic ``RoomChannel`` uses), in a stream:
  the page keeps them and the view keeps only the id of the oldest one
  shown, to load the page before it when the list is scrolled to the top;
* the people online: ``Presence`` on ``room:<id>``, keyed by user id with
  metas ``{"username", "online_at"}``, so a user with tabs in both kinds of
  page is one entry;
* who is typing: ``typing`` broadcasts, each shown for a few seconds;
* the room list: ``room_added`` on ``rooms:public`` and ``user:<id>``.

A message sent from this page is validated, rate limited, stored and
broadcast exactly as ``RoomChannel.new_message`` does: through the rooms'
``History``, so that the channel clients that rejoin recover it too.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

from phoenix_py import Broadcast
from phoenix_py.live import AsyncResult, LiveView

from .accounts import body_errors, room_errors
from .channels import Services
from .http_api import PUBLIC_ROOMS_TOPIC, user_topic
from .store import JSON
from .web_session import browser_session_topic, signed_in_user

HISTORY_PAGE = 50
#: How long "<name> is typing…" stays after that person's last keystroke event.
TYPING_SHOWN = 3.5
#: At most one ``typing`` broadcast per view in this many seconds.
TYPING_SEND_EVERY = 2.0
NOT_FOUND = "This room does not exist."
PRIVATE = "This room is private."
RATE_LIMITED = "Slow down: at most 10 messages a second."


def hue(text: str) -> int:
    """The avatar colour of a name (the /spa page computes the same)."""
    value = 0
    for char in text:
        value = (value * 31 + ord(char)) % 360
    return value


def clock(iso: str) -> str:
    """``HH:MM`` (UTC) for a message of today, with the date before it otherwise."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.date() == datetime.now(UTC).date():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def describe(errors: dict[str, list[str]]) -> str:
    """``{"name": ["has already been taken"]}`` as ``name has already been taken``."""
    return "; ".join(f"{field} {', '.join(problems)}" for field, problems in errors.items())


def typing_text(names: list[str]) -> str:
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} is typing…"
    if len(names) == 2:
        return f"{names[0]} and {names[1]} are typing…"
    return "Several people are typing…"


class RoomLive(LiveView):
    template_file = "templates/room.html"

    @property
    def services(self) -> Services:
        return cast(Services, self.state)

    # Mount: the room, its history, its people, the room list

    async def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        raw_id = str(params.get("room_id", ""))
        me = signed_in_user(session)
        if me is None:
            self.push_navigate(f"/?return_to={quote(f'/rooms/{raw_id}', safe='/')}")
            return
        store = self.services.store
        self.me = me
        found = await store.get_room(int(raw_id)) if raw_id.isdigit() else None
        readable = found is not None and await store.can_read(found, me["id"])
        room = found if readable else None
        self.room = room
        self.topic = f"room:{raw_id}"
        self.oldest: int | None = None
        self.typers: dict[int, tuple[str, float]] = {}
        self.typing_sent_at = 0.0
        self.timer_armed = False
        self.stream("messages", [])
        self.assign(
            me=me,
            csrf_token=session.get("_csrf_token", ""),
            connected=self.connected,
            room=room,
            room_id=None if found is None else found["id"],
            has_older=False,
            online=[],
            typing="",
            sent=0,
            member_draft="",
            page_title=f"{room['name'] if room else 'Rooms'} · phoenix_py chat",
        )
        if found is None or room is None:
            self.put_flash("error", NOT_FOUND if found is None else PRIVATE)
        if self.connected:  # the dead render has no socket to receive on
            self.listen(session.get("sid"))
        self.assign(rooms=await store.rooms_for(me["id"]))
        if room is not None:
            self.show_history(await store.messages(room["id"], limit=HISTORY_PAGE), at=-1)

    def listen(self, browser_session: Any) -> None:
        """Subscribe (before reading the store, so that nothing falls in between), and be
        present in the room as the channels are: keyed by user id."""
        self.subscribe(PUBLIC_ROOMS_TOPIC)
        self.subscribe(user_topic(self.me["id"]))
        if isinstance(browser_session, str):
            self.subscribe(browser_session_topic(browser_session))
        if self.room is not None:
            self.subscribe(self.topic)
            online_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            meta = {"username": self.me["username"], "online_at": online_at}
            self.track(self.services.presence, self.topic, str(self.me["id"]), meta)
            self.refresh_online()

    def show_history(self, messages: list[JSON], *, at: int) -> None:
        """Older messages at the top (``at=0``: each goes first, so newest of the page first)."""
        ordered = messages if at == -1 else list(reversed(messages))
        self.stream("messages", [self.shown(message) for message in ordered], at=at)
        if messages:
            self.oldest = messages[0]["id"]
        self.assign(has_older=len(messages) == HISTORY_PAGE)

    def shown(self, message: JSON) -> JSON:
        """A message as the template shows it, for this viewer."""
        name = message["user"]["username"]
        return {
            **message,
            "mine": message["user"]["id"] == self.me["id"],
            "hue": hue(name),
            "initial": name[:1].upper(),
            "time": clock(message["inserted_at"]),
        }

    def refresh_online(self) -> None:
        presences = self.services.presence.list(self.topic)
        people = [
            {"id": key, "username": entry["metas"][0]["username"], "me": key == str(self.me["id"])}
            for key, entry in presences.items()
            if entry["metas"]
        ]
        people.sort(key=lambda person: (person["username"].lower(), person["id"]))
        for person in people:
            person.update(hue=hue(person["username"]), initial=person["username"][:1].upper())
        if people != self.assigns["online"]:  # a second tab of someone here changes nothing
            self.assign(online=people)

    # Events from the page

    async def handle_event(self, event: str, value: dict[str, Any]) -> None:
        if event == "send":
            await self.send_message(value.get("body"))
        elif event == "typing":
            await self.typed()
        elif event == "load_older" and not value.get("_overran"):
            # phx-viewport-top sends two events when the list's top comes into view, the
            # second without "_overran": answering that one alone keeps one request in
            # flight, so that the list is not locked by another when its answer arrives
            await self.load_older(value.get("id"))
        elif event == "create_room":
            await self.create_room(value.get("name"), value.get("private") == "true")
        elif event == "draft_member":
            self.assign(member_draft=str(value.get("username", "")))
        elif event == "add_member":
            await self.add_member(str(value.get("username", "")).strip())

    async def send_message(self, body: Any) -> None:
        if self.room is None:
            return
        errors = body_errors(body)
        if errors:
            self.put_flash("error", describe(errors))
            return
        if not await self.services.rate_limiter.allow(str(self.me["id"])):
            self.put_flash("error", RATE_LIMITED)
            return
        message = await self.services.store.insert_message(self.room["id"], self.me, str(body))
        # kept and numbered, as the channel's are; this view shows it from there
        await self.services.history.broadcast(self.topic, "new_message", message)
        self.typing_sent_at = 0.0  # the next keystroke says "typing" again at once
        self.clear_flash("error")
        self.assign(sent=self.assigns["sent"] + 1)  # a new, empty composer

    async def typed(self) -> None:
        now = time.monotonic()
        if self.room is not None and now - self.typing_sent_at >= TYPING_SEND_EVERY:
            self.typing_sent_at = now
            await self.broadcast(self.topic, "typing", {"user": self.me})

    async def load_older(self, first_shown: Any) -> None:
        """The list was scrolled to its top: the page of messages before the oldest shown.
        The scroll binding sends the first item's DOM id; a request for a page already
        loaded (the client may ask twice for one scroll) is ignored."""
        if self.room is None or self.oldest is None or not self.assigns["has_older"]:
            return
        if first_shown != f"messages-{self.oldest}":
            return
        store = self.services.store
        self.show_history(
            await store.messages(self.room["id"], before=self.oldest, limit=HISTORY_PAGE), at=0
        )

    async def create_room(self, name: Any, private: bool) -> None:
        errors = room_errors(name, private)
        if errors:
            self.put_flash("error", describe(errors))
            return
        store = self.services.store
        room = await store.create_room(str(name).strip(), private=private, creator_id=self.me["id"])
        if room is None:
            self.put_flash("error", "name has already been taken")
            return
        if not room["private"]:
            await self.broadcast(PUBLIC_ROOMS_TOPIC, "room_added", {"room": room})
        self.push_navigate(f"/rooms/{room['id']}")

    async def add_member(self, username: str) -> None:
        store = self.services.store
        if self.room is None or not await store.is_member(self.room["id"], self.me["id"]):
            self.put_flash("error", "only members can add members")
            return
        found = await store.find_user(username) if username else None
        if found is None:
            self.put_flash("error", "username: no user has this name")
            return
        member, _ = found
        if await store.add_member(self.room["id"], member["id"]):
            await self.broadcast(user_topic(member["id"]), "room_added", {"room": self.room})
        self.clear_flash("error")
        name, room = member["username"], self.room["name"]
        self.put_flash("info", f"{name} can now read and write in {room}.")
        self.assign(member_draft="")

    # Broadcasts: messages, typing, presence, rooms

    async def handle_info(self, message: Any) -> None:
        if not isinstance(message, Broadcast):
            await super().handle_info(message)
            return
        payload = message.payload
        if message.topic == self.topic and message.event == "new_message":
            self.stream_insert("messages", self.shown(payload))
            self.forget_typer(payload["user"]["id"])
        elif message.topic == self.topic and message.event == "typing":
            self.show_typer(payload["user"])
        elif message.topic == self.topic and message.event == "presence_diff":
            self.refresh_online()
        elif message.event == "room_added":
            self.add_room(payload["room"])
        elif message.event == "signed_out":
            self.redirect("/")

    def add_room(self, room: JSON) -> None:
        rooms: list[JSON] = self.assigns["rooms"]
        if all(known["id"] != room["id"] for known in rooms):
            self.assign(rooms=sorted([*rooms, room], key=lambda known: known["id"]))

    def show_typer(self, user: JSON) -> None:
        if user["id"] == self.me["id"]:  # this user, from this tab or another one
            return
        self.typers[user["id"]] = (user["username"], time.monotonic() + TYPING_SHOWN)
        self.show_typing()
        if not self.timer_armed:
            self.timer_armed = True
            self.start_async("typing_expiry", lambda: asyncio.sleep(TYPING_SHOWN))

    def forget_typer(self, user_id: int) -> None:
        if self.typers.pop(user_id, None) is not None:
            self.show_typing()

    def show_typing(self) -> None:
        self.assign(typing=typing_text(sorted(name for name, _ in self.typers.values())))

    async def handle_async(self, name: str, result: AsyncResult) -> None:
        """The typing timer: forget who stopped typing, and wait for the next to stop."""
        now = time.monotonic()
        self.typers = {uid: typer for uid, typer in self.typers.items() if typer[1] > now}
        self.show_typing()
        self.timer_armed = bool(self.typers)
        if self.typers:
            wait = min(until for _, until in self.typers.values()) - now
            self.start_async("typing_expiry", lambda: asyncio.sleep(wait))
