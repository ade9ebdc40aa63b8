"""The LiveView pages in-process (phoenix_py.live.testing), beside phoenix_py.testing
channel clients on the same app: what crosses between them, and what each
interaction sends over the wire."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from examples.chat_app.channels import ChatSocket
from examples.chat_app.web_session import SESSION_COOKIE, SignIn
from phoenix_py import ConnectInfo
from phoenix_py.live import Live, LiveSocket
from phoenix_py.live.testing import LiveViewTest, Redirected, live
from phoenix_py.testing import ANY, JoinRefused, connect

from .conftest import PASSWORD, SignUp
from .test_http_api import lobby_id

pytestmark = pytest.mark.anyio


def cookie_for(app: Starlette, user: dict[str, Any]) -> dict[str, str]:
    """The Cookie header of a browser signed in as ``user``."""
    sign_in: SignIn = app.state.sign_in
    return {"cookie": f"{SESSION_COOKIE}={sign_in.cookies.sign(user)}"}


async def room_view(app: Starlette, user: dict[str, Any], room_id: int) -> LiveViewTest:
    return await live(app.state.live, f"/rooms/{room_id}", headers=cookie_for(app, user))


def bodies(view: LiveViewTest) -> list[str]:
    return [item.get_text() for item in view.select("[data-testid=message-item] .body")]


def pushed_diffs(view: LiveViewTest, since: int = 0) -> list[dict[str, Any]]:
    """The ``diff`` pushes the view's socket received (after the first ``since`` messages)."""
    return [m.payload for m in view.socket.received()[since:] if m.event == "diff"]


def size(diff: Any) -> int:
    return len(json.dumps(diff, separators=(",", ":")))


def statics_in(value: Any) -> bool:
    if isinstance(value, dict):
        return "s" in value or any(statics_in(item) for item in value.values())
    if isinstance(value, list):
        return any(statics_in(item) for item in value)
    return False


async def test_sign_up_validates_live_then_posts_the_form(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    view = await live(app.state.live, "/")
    await view.push_event(
        "form",
        "validate",
        "username=a-b&password=&_unused_password=",
        {"_target": "username"},
    )
    assert view.text("#username-error") == "username must be 3-32 letters, digits or _"
    assert view.text("#password-error") == ""  # not used yet
    await view.form("#auth-form", {"username": "ann", "password": "short"}).change()
    assert view.text("#username-error") == ""
    assert view.text("#password-error") == "password must be at least 8 characters"
    form = {"username": "ann", "password": PASSWORD, "action": "sign_up"}
    await view.form("#auth-form", form).submit()
    assert view.select("#auth-form")[0].has_attr("phx-trigger-action")
    assert await app.state.store.find_user("ann") is not None

    # what the browser then does: the same form, over HTTP, with its CSRF token
    page = await client.get("/")
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    signed_in = await client.post("/session", data={"_csrf_token": token, "return_to": "", **form})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    assert SESSION_COOKIE in signed_in.cookies
    lobby = await client.get("/?return_to=/")  # not back to this page: to the lobby
    assert lobby.status_code == 302
    assert (
        lobby.headers["location"] == f"/rooms/{(await app.state.store.room_named('lobby'))['id']}"
    )


async def test_a_taken_name_and_wrong_credentials_are_shown(
    app: Starlette, sign_up: SignUp
) -> None:
    await sign_up("bob")
    view = await live(app.state.live, "/")
    await view.form(
        "#auth-form", {"username": "BOB", "password": PASSWORD, "action": "sign_up"}
    ).submit()
    assert view.text("#username-error") == "username has already been taken"
    await view.form("#auth-form", {"username": "bob", "password": "wrong password"}).submit()
    assert view.text("[data-testid=error]") == "Invalid username or password."
    assert not view.select("#auth-form")[0].has_attr("phx-trigger-action")


async def test_a_wrong_csrf_token_is_refused_and_asks_to_sign_in_again(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    await sign_up("ann")
    await client.get("/")  # the CSRF cookie
    form = {"_csrf_token": "forged", "username": "ann", "password": PASSWORD}
    refused = await client.post("/session", data={**form, "return_to": "/rooms/1"})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/?reason=csrf&return_to=/rooms/1"
    assert SESSION_COOKIE not in refused.cookies
    view = await live(app.state.live, "/?reason=csrf")
    assert view.text("[data-testid=error]") == "The form had expired: please sign in again."

    # the LiveView socket refuses a wrong token too: the page's joins are stale
    page = (await client.get("/")).text
    live_app: Live = app.state.live
    info = ConnectInfo(
        transport="test",
        headers={"cookie": f"{live_app.cookie_name}={client.cookies[live_app.cookie_name]}"},
        peer=("127.0.0.1", 0),
        scheme="ws",
        host="chat.test",
        path="/live/websocket",
        query_string="",
    )
    join = {
        "url": "http://chat.test/",
        "params": {},
        "session": html.unescape(attribute(page, "data-phx-session")),
        "static": html.unescape(attribute(page, "data-phx-static")),
    }
    topic = f"lv:{attribute(page, 'id')}"
    for token, joins in (("forged", False), (attribute(page, "content"), True)):
        socket = await connect(
            LiveSocket,
            {"_csrf_token": html.unescape(token)},
            connect_info=info,
            endpoint=app.state.endpoint,
            context=live_app,
        )
        if joins:
            response, _ = await socket.join(topic, join)
            assert "rendered" in response
        else:
            with pytest.raises(JoinRefused) as refused:
                await socket.join(topic, join)
            assert refused.value.response == {"reason": "stale"}


def attribute(page: str, name: str) -> str:
    """The first ``name="..."`` of the page's container or meta tag."""
    found = re.search(rf'(?:<div|<meta name="csrf-token") [^>]*?\b{name}="([^"]*)"', page)
    assert found is not None, name
    return found.group(1)


async def test_a_tampered_session_cookie_asks_to_sign_in_again(
    app: Starlette, sign_up: SignUp
) -> None:
    ann = await sign_up("ann")
    headers = cookie_for(app, ann["user"])
    name, _, rest = headers["cookie"].partition("=")
    value, _, others = rest.partition(";")
    tampered = {"cookie": f"{name}={value[:-2]}xx;{others}"}
    with pytest.raises(Redirected) as redirected:
        await live(app.state.live, "/rooms/1", headers=tampered)
    assert redirected.value.to == "/?return_to=/rooms/1"
    view = await live(app.state.live, "/?return_to=/rooms/1", headers=tampered)
    assert view.text("[data-testid=error]") == "Your session is not valid: please sign in again."
    assert view.select("input[name=return_to]")[0]["value"] == "/rooms/1"


async def test_messages_cross_between_the_live_page_and_a_channel_client(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ann, bob = await sign_up("ann"), await sign_up("bob")
    lobby = await lobby_id(client, ann["headers"])
    view = await room_view(app, ann["user"], lobby)
    socket = await connect(ChatSocket, {"token": bob["token"]}, endpoint=app.state.endpoint)
    _, channel = await socket.join(f"room:{lobby}")
    await channel.assert_push("presence_state")
    # ann in a second tab, and on a channel client too: still one entry for ann
    second_tab = await room_view(app, ann["user"], lobby)
    ann_socket = await connect(ChatSocket, {"token": ann["token"]}, endpoint=app.state.endpoint)
    await ann_socket.join(f"room:{lobby}")
    presence = await ann_socket.assert_push("presence_state")
    assert len(presence[str(ann["user"]["id"])]["metas"]) == 3
    for page in (view, second_tab):
        await page.sync(0.05)
        assert [li.get_text() for li in page.select("[data-testid=online-user]")] == [
            "Aann (you)",
            "Bbob",
        ]

    ref = await channel.push("new_message", {"body": "from a channel client"})
    await channel.assert_reply(ref, "ok", {"id": ANY})
    await view.sync(0.05)
    assert bodies(view) == ["from a channel client"]

    await view.form("#composer-0", {"body": "from the live page <b>"}).submit()
    await channel.assert_push(
        "new_message",
        {
            "id": ANY,
            "room_id": lobby,
            "user": ann["user"],
            "body": "from the live page <b>",
            "inserted_at": ANY,
        },
    )
    assert view.has("#composer-1")  # a new, empty composer
    await view.sync(0.05)
    assert bodies(view) == ["from a channel client", "from the live page <b>"]
    history = await app.state.store.messages(lobby)
    assert [m["body"] for m in history] == bodies(view)


async def test_a_new_message_sends_that_message_alone(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ann, bob = await sign_up("ann"), await sign_up("bob")
    lobby = await lobby_id(client, ann["headers"])
    for n in range(30):
        await app.state.store.insert_message(lobby, bob["user"], f"history {n}")
    ann_view, bob_view = (
        await room_view(app, ann["user"], lobby),
        await room_view(app, bob["user"], lobby),
    )
    await ann_view.sync(0.05)
    await bob_view.sync(0.05)
    seen = len(bob_view.socket.received())
    await ann_view.form("#composer-0", {"body": "a new one"}).submit()
    await bob_view.sync(0.05)
    [diff] = pushed_diffs(bob_view, seen)
    encoded = json.dumps(diff)
    assert "a new one" in encoded and "history" not in encoded, encoded
    assert size(diff) < 300, (size(diff), encoded)  # about 200 bytes
    assert bodies(bob_view)[-1] == "a new one" and len(bodies(bob_view)) == 31


async def test_typing_shows_to_the_others_and_a_keystroke_re_renders_nothing(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ann, bob = await sign_up("ann"), await sign_up("bob")
    lobby = await lobby_id(client, ann["headers"])
    ann_view, bob_view = (
        await room_view(app, ann["user"], lobby),
        await room_view(app, bob["user"], lobby),
    )
    socket = await connect(ChatSocket, {"token": bob["token"]}, endpoint=app.state.endpoint)
    _, channel = await socket.join(f"room:{lobby}")
    await bob_view.sync(0.05)
    seen = len(bob_view.socket.received())

    reply = await ann_view.form("#composer-0", {"body": "h"}).change()
    assert "diff" not in reply  # the typist's page: nothing to re-render
    await channel.assert_push("typing", {"user": ann["user"]})
    await bob_view.sync(0.05)
    assert bob_view.text("[data-testid=typing]") == "ann is typing…"
    assert ann_view.text("[data-testid=typing]") == ""
    [diff] = pushed_diffs(bob_view, seen)
    assert size(diff) < 40, diff  # the typing line, nothing else

    # more keystrokes within the throttle: no broadcast, nothing for anybody
    seen = len(bob_view.socket.received())
    for text in ("he", "hel", "hell"):
        assert "diff" not in await ann_view.form("#composer-0", {"body": text}).change()
    await channel.refute_push("typing", timeout=0.1)
    await bob_view.sync(0.05)
    assert pushed_diffs(bob_view, seen) == []

    # the message ends the typing line
    await ann_view.form("#composer-0", {"body": "hello"}).submit()
    await bob_view.sync(0.05)
    assert bob_view.text("[data-testid=typing]") == ""


async def test_older_messages_load_a_page_at_a_time_exactly_once(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ann = await sign_up("ann")
    lobby = await lobby_id(client, ann["headers"])
    ids = [
        (await app.state.store.insert_message(lobby, ann["user"], f"m{n}"))["id"]
        for n in range(120)
    ]
    view = await room_view(app, ann["user"], lobby)
    assert bodies(view) == [f"m{n}" for n in range(70, 120)]
    assert view.has("#older")
    overran = {"id": f"messages-{ids[70]}", "_overran": True}  # comes with the next one
    assert "diff" not in await view.push_event("hook", "load_older", overran)
    await view.push_event("hook", "load_older", {"id": f"messages-{ids[70]}"})
    assert bodies(view) == [f"m{n}" for n in range(20, 120)]
    # the scroll binding may ask twice for one scroll: the second asks for a page loaded
    reply = await view.push_event("hook", "load_older", {"id": f"messages-{ids[70]}"})
    assert "diff" not in reply
    await view.push_event("hook", "load_older", {"id": f"messages-{ids[20]}"})
    assert bodies(view) == [f"m{n}" for n in range(120)]
    assert not view.has("#older") and view.has("#beginning")
    assert "diff" not in await view.push_event("hook", "load_older", {"id": f"messages-{ids[0]}"})


async def test_private_rooms_refuse_outsiders_and_new_rooms_appear_live(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ann, bob = await sign_up("ann"), await sign_up("bob")
    lobby = await lobby_id(client, ann["headers"])
    bob_view = await room_view(app, bob["user"], lobby)
    ann_view = await room_view(app, ann["user"], lobby)
    await ann_view.form("#new-room", {"name": "secret", "private": "true"}).submit()
    secret = ann_view.assert_redirect().to
    room_id = int(secret.rsplit("/", 1)[1])

    refused = await room_view(app, bob["user"], room_id)
    assert refused.text("[data-testid=error]") == "This room is private."
    assert bodies(refused) == [] and not refused.has("[data-testid=message-input]")

    ann_room = await room_view(app, ann["user"], room_id)
    await ann_room.form("#add-member", {"username": "nobody"}).submit()
    assert ann_room.text("[data-testid=error]") == "username: no user has this name"
    await ann_room.form("#add-member", {"username": "bob"}).submit()
    assert ann_room.text("#info") == "bob can now read and write in secret."
    await refused.sync(0.05)
    await bob_view.sync(0.05)
    for view in (refused, bob_view):
        names = [a.get_text() for a in view.select("[data-testid=room-item]")]
        assert names == ["# lobby", "secretprivate"]

    public = await client.post(
        "/api/rooms", json={"name": "open", "private": False}, headers=bob["headers"]
    )
    assert public.status_code == 201
    await ann_room.sync(0.05)
    assert "# open" in [a.get_text() for a in ann_room.select("[data-testid=room-item]")]


async def test_signing_out_ends_the_other_pages_of_that_browser(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ann = await sign_up("ann")
    headers = cookie_for(app, ann["user"])
    view = await live(app.state.live, "/rooms/1", headers=headers)
    token = view.select("#sign-out-form input[name=_csrf_token]")[0]["value"]
    # the browser's cookies: the session, and the CSRF cookie the page set
    out = await client.post(
        "/sign-out", data={"_csrf_token": token}, headers={"cookie": view.page.cookie}
    )
    assert out.status_code == 303 and out.headers["location"] == "/"
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    await view.sync(0.05)
    view.assert_redirect("/")


async def test_a_message_from_the_live_page_is_recovered_by_a_rejoining_channel_client(
    app: Starlette, client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ann, bob = await sign_up("ann"), await sign_up("bob")
    lobby = await lobby_id(client, ann["headers"])
    socket = await connect(ChatSocket, {"token": bob["token"]}, endpoint=app.state.endpoint)
    joined, _ = await socket.join(f"room:{lobby}")
    await socket.close()  # bob's client goes away
    view = await room_view(app, ann["user"], lobby)
    await view.form("#composer-0", {"body": "while bob was away"}).submit()
    await view.sync(0.05)
    assert bodies(view) == ["while bob was away"]  # the view gets its own broadcast back

    back = await connect(ChatSocket, {"token": bob["token"]}, endpoint=app.state.endpoint)
    since = {"offset": joined["offset"], "epoch": joined["epoch"]}
    response, room = await back.join(f"room:{lobby}", {"since": since})
    assert response["recovered"] is True and response["offset"] == joined["offset"] + 1
    message = await room.assert_push("new_message")
    assert message["body"] == "while bob was away" and message["user"] == ann["user"]
