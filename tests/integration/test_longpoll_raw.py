"""LongPoll over raw HTTP: exact statuses, bodies and headers (PHOENIX_PROTOCOL.md §4),
with httpx against a real uvicorn. The windows are short (0.5 s) so that 204s,
408s and expiry happen quickly."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from examples.contract.app import SECRET_KEY, create_app
from phoenix_py import (
    Channel,
    ChannelReply,
    ConnectInfo,
    Endpoint,
    LongPollOptions,
    Socket,
    UsageError,
    ok,
    reply_with,
)
from phoenix_py._core.session_token import SessionRef, SessionTokens

from .servers import ThreadedServer, serve

WINDOW = 0.5
NDJSON = "application/x-ndjson"
JSON_HEADERS = {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "access-control-allow-origin": "*",
}
OK_EMPTY = {"response": {}, "status": "ok"}

terminated: list[tuple[str, Any]] = []
terminated_lock = threading.Lock()


class ProbeChannel(Channel):
    async def join(self, topic: str, payload: Any) -> dict[str, Any]:
        if isinstance(payload, dict) and "sleep" in payload:
            await asyncio.sleep(payload["sleep"])
        info = self.socket.connect_info
        assert info is not None
        return {"transport": info.transport, "auth_token": info.auth_token}

    async def handle_in(self, event: str, payload: Any) -> ChannelReply | None:
        if event == "echo":
            return reply_with("ok", payload)
        if event == "push_many":
            for n in range(payload["count"]):
                self.push("numbered", {"n": n})
            return ok()
        raise ValueError(event)

    async def terminate(self, reason: str | BaseException) -> None:
        with terminated_lock:
            terminated.append((self.topic, reason))


class ProbeSocket(Socket):
    channels = (("probe:*", ProbeChannel),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        if params.get("raise"):
            raise RuntimeError("connect raised on purpose")
        self.assigns["user"] = params.get("user")
        return params.get("refuse") is None

    def id(self) -> str | None:
        user = self.assigns["user"]
        return f"probe:{user}" if user else None


def probe_app(**socket_options: Any) -> Starlette:
    endpoint = Endpoint(secret_key=SECRET_KEY)
    options = {
        "longpoll": LongPollOptions(window=WINDOW, max_buffered_messages=5, max_body_size=10_000),
        **socket_options,
    }
    app = Starlette(
        routes=[Mount("/socket", app=endpoint.socket_app(ProbeSocket, **options))],
        lifespan=endpoint.lifespan,
    )
    app.state.endpoint = endpoint
    return app


@pytest.fixture(scope="module")
def probe() -> Iterator[ThreadedServer]:
    with serve(probe_app()) as server:
        yield server


@pytest.fixture(scope="module")
def contract() -> Iterator[ThreadedServer]:
    with serve(create_app(longpoll=LongPollOptions(window=WINDOW))) as server:
        yield server


def longpoll_url(server: ThreadedServer) -> str:
    return f"http://127.0.0.1:{server.port}/socket/longpoll"


class Session:
    """A raw LongPoll client speaking V2: POSTs frames, GETs what the server sent."""

    def __init__(self, server: ThreadedServer, **params: str) -> None:
        self.url = longpoll_url(server)
        self.http = httpx.Client(timeout=10)
        self.params = {"vsn": "2.0.0", **params}
        self.token: str | None = None

    def request(self, method: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        params = dict(self.params)
        if token or self.token:
            params["token"] = token or self.token or ""
        return self.http.request(method, self.url, params=params, **kwargs)

    def get(self, **kwargs: Any) -> Any:
        response = self.request("GET", **kwargs)
        assert response.status_code == 200, response
        return response.json()

    def open(self) -> Session:
        body = self.get()
        assert body["status"] == 410, body
        self.token = body["token"]
        return self

    def post(self, *frames: Any, content_type: str = NDJSON, token: str | None = None) -> Any:
        lines = [
            base64.b64encode(frame).decode() if isinstance(frame, bytes) else json.dumps(frame)
            for frame in frames
        ]
        response = self.request(
            "POST", token=token, content="\n".join(lines), headers={"content-type": content_type}
        )
        assert response.status_code == 200, response
        return response.json()

    def messages(self) -> list[Any]:
        body = self.get()
        assert body["status"] == 200, body
        return [json.loads(message) for message in body["messages"]]

    def join(self, topic: str, join_ref: str = "1", payload: Any = None) -> Any:
        assert self.post([join_ref, join_ref, topic, "phx_join", payload or {}]) == {"status": 200}
        [reply] = self.messages()
        return reply


def binary_push(join_ref: str, ref: str, topic: str, event: str, payload: bytes) -> bytes:
    """A V2 binary push (kind 0) as phoenix.js encodes an ArrayBuffer payload."""
    fields = [join_ref.encode(), ref.encode(), topic.encode(), event.encode()]
    return bytes([0, *(len(f) for f in fields)]) + b"".join(fields) + payload


def on_loop(server: ThreadedServer, coro: Any) -> Any:
    return server.call(coro)


# ------------------------------------------------------------------------------------------------


class TestSessionCreation:
    """§4.2: a GET without a usable token runs connect and answers 410 with a token."""

    def test_new_session_answer_and_headers(self, contract: ThreadedServer) -> None:
        response = Session(contract).request("GET")
        assert response.status_code == 200
        assert {k: response.headers[k] for k in JSON_HEADERS} == JSON_HEADERS
        body = response.json()
        assert set(body) == {"status", "token", "messages"}
        assert (body["status"], body["messages"]) == (410, [])
        assert isinstance(body["token"], str) and body["token"]

    def test_refused_connect_is_403(self, contract: ThreadedServer) -> None:
        response = Session(contract, token="bad").request("GET")
        assert (response.status_code, response.json()) == (200, {"status": 403})
        assert response.headers["cache-control"] == "no-store"

    def test_vsn_mismatch_is_403(self, contract: ThreadedServer) -> None:
        assert Session(contract, vsn="123.1.1").get() == {"status": 403}

    def test_connect_raising_is_500(self, probe: ThreadedServer) -> None:
        assert Session(probe, **{"raise": "1"}).get() == {"status": 500}

    def test_connect_info_carries_transport_and_auth_token(self, probe: ThreadedServer) -> None:
        session = Session(probe)
        # phoenix.js sends the raw token (atob of its authToken: Latin-1)
        body = session.get(headers={"x-phoenix-authtoken": "tok en/ü".encode("latin-1")})
        session.token = body["token"]
        reply = session.join("probe:info")
        assert reply[4] == {
            "response": {"transport": "longpoll", "auth_token": "tok en/ü"},
            "status": "ok",
        }

    def test_origin_is_checked_first(self) -> None:
        with serve(probe_app(check_origin=["//allowed.example"])) as server:
            session = Session(server)
            refused = session.request("GET", headers={"origin": "https://evil.example"})
            assert (refused.status_code, refused.json()) == (200, {"status": 403})
            assert {k: refused.headers[k] for k in JSON_HEADERS} == JSON_HEADERS
            preflight = session.request("OPTIONS", headers={"origin": "https://evil.example"})
            assert preflight.json() == {"status": 403}
            allowed = session.request("GET", headers={"origin": "https://allowed.example"})
            assert allowed.json()["status"] == 410


class TestPoll:
    """§4.3: a GET with a token returns what is buffered, or waits up to the window."""

    def test_join_then_poll_then_204(self, contract: ThreadedServer) -> None:
        session = Session(contract, user="ann").open()
        frame = ["1", "1", "room:lp-a", "phx_join", {}]
        assert session.post(frame) == {"status": 200}
        body = session.get()
        assert body == {
            "status": 200,
            "token": session.token,
            "messages": [
                '["1","1","room:lp-a","phx_reply",'
                '{"response":{"topic":"room:lp-a","user":"ann"},"status":"ok"}]'
            ],
        }
        started = time.monotonic()
        assert session.get() == {"status": 204, "token": session.token, "messages": []}
        assert WINDOW - 0.05 <= time.monotonic() - started < WINDOW + 0.5

    def test_a_waiting_poll_answers_as_soon_as_a_frame_arrives(
        self, contract: ThreadedServer
    ) -> None:
        session = Session(contract).open()
        session.join("room:lp-wake")
        endpoint: Endpoint = contract.app.state.endpoint

        async def broadcast_soon() -> None:
            await asyncio.sleep(0.1)
            await endpoint.broadcast("room:lp-wake", "news", {"n": 1})

        future = asyncio.run_coroutine_threadsafe(broadcast_soon(), contract.loop)  # type: ignore[arg-type]
        started = time.monotonic()
        assert session.messages() == [[None, None, "room:lp-wake", "news", {"n": 1}]]
        assert time.monotonic() - started < WINDOW - 0.1
        future.result(5)

    def test_token_header_wins_over_the_query_parameter(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        token, session.token = session.token, None
        assert token is not None
        headers = {"x-phoenix-longpoll-token": token, "content-type": NDJSON}
        response = session.request(
            "POST",
            token="stale",
            headers=headers,
            content='[null,"7","phoenix","heartbeat",{}]',
        )
        assert response.json() == {"status": 200}
        body = session.get(token="stale", headers={"x-phoenix-longpoll-token": token})
        assert [json.loads(m) for m in body["messages"]] == [
            [None, "7", "phoenix", "phx_reply", OK_EMPTY]
        ]

    def test_a_newer_poll_takes_the_place_of_an_older_one(self, probe: ThreadedServer) -> None:
        session = Session(probe).open()
        session.join("probe:replace")
        assert session.token is not None
        url, params = session.url, {**session.params, "token": session.token}

        async def scenario() -> tuple[Any, Any, float]:
            async with httpx.AsyncClient(timeout=10) as http:
                started = time.monotonic()
                older = asyncio.create_task(http.get(url, params=params))
                await asyncio.sleep(0.1)
                newer = asyncio.create_task(http.get(url, params=params))
                await asyncio.sleep(0.1)
                frame = '["1","2","probe:replace","echo",{"x":1}]'
                await http.post(url, params=params, content=frame)
                newer_body = (await newer).json()
                older_body = (await older).json()
                return older_body, newer_body, time.monotonic() - started

        older, newer, elapsed = asyncio.run(scenario())
        assert newer["status"] == 200
        replies = [json.loads(m)[4] for m in newer["messages"]]
        assert replies == [{"response": {"x": 1}, "status": "ok"}]
        assert older == {"status": 204, "token": session.token, "messages": []}
        assert elapsed >= WINDOW - 0.05  # the older poll waited out its own window

    def test_a_poll_whose_client_left_takes_nothing(self, probe: ThreadedServer) -> None:
        session = Session(probe).open()
        session.join("probe:left")
        assert session.token is not None
        url, params = session.url, {**session.params, "token": session.token}

        async def abandon_a_poll() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                poll = asyncio.create_task(http.get(url, params=params))
                await asyncio.sleep(0.1)
                poll.cancel()  # httpx drops the connection
                with pytest.raises(asyncio.CancelledError):
                    await poll

        asyncio.run(abandon_a_poll())
        time.sleep(0.1)
        assert session.post(["1", "2", "probe:left", "echo", {"kept": True}]) == {"status": 200}
        time.sleep(0.1)
        assert [m[4] for m in session.messages()] == [{"response": {"kept": True}, "status": "ok"}]


class TestPublish:
    """§4.4: POST bodies, batches and their answers."""

    def test_only_the_first_100_lines_are_dispatched(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        heartbeats = [[None, str(n), "phoenix", "heartbeat", {}] for n in range(101)]
        assert session.post(*heartbeats) == {"status": 200}
        refs = [m[1] for m in session.messages()]
        assert refs == [str(n) for n in range(100)]

    def test_a_base64_line_is_a_binary_frame(self, contract: ThreadedServer) -> None:
        session = Session(contract, user="bin").open()
        join = binary_push("1", "1", "room:lp-bin", "phx_join", b"\x00\x01\xff")
        assert session.post(join, [None, "2", "phoenix", "heartbeat", {}]) == {"status": 200}
        assert session.messages() == [
            [
                "1",
                "1",
                "room:lp-bin",
                "phx_reply",
                {"response": {"topic": "room:lp-bin", "user": "bin"}, "status": "ok"},
            ],
            [None, "2", "phoenix", "phx_reply", OK_EMPTY],
        ]

    def test_a_bad_base64_line_is_http_400(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        response = session.request("POST", content="not base64!", headers={"content-type": NDJSON})
        assert (response.status_code, response.content) == (400, b"")
        assert response.headers["access-control-allow-origin"] == "*"

    def test_another_content_type_is_one_frame(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        frame = '[null,"1","phoenix","heartbeat",{}]'
        for content_type in ("", "application/json"):
            assert session.post(json.loads(frame), content_type=content_type) == {"status": 200}
        assert [m[1] for m in session.messages()] == ["1", "1"]

    def test_an_unmatched_topic_is_accepted_and_answered_by_poll(
        self, contract: ThreadedServer
    ) -> None:
        session = Session(contract).open()
        assert session.post([None, "12300", "room:nobody", "echo", {}]) == {"status": 200}
        assert session.messages() == [
            [
                None,
                "12300",
                "room:nobody",
                "phx_reply",
                {"response": {"reason": "unmatched topic"}, "status": "error"},
            ]
        ]

    def test_a_body_over_the_limit_is_http_400(self, probe: ThreadedServer) -> None:
        session = Session(probe).open()
        frame = [None, "1", "phoenix", "heartbeat", {"pad": "x" * 20_000}]
        response = session.request(
            "POST", content=json.dumps(frame), headers={"content-type": NDJSON}
        )
        assert response.status_code == 400

    def test_a_slow_join_is_408_and_the_session_goes_on(self, probe: ThreadedServer) -> None:
        session = Session(probe).open()
        started = time.monotonic()
        frame = ["1", "1", "probe:slow", "phx_join", {"sleep": WINDOW + 0.3}]
        assert session.post(frame, [None, "2", "phoenix", "heartbeat", {}]) == {"status": 408}
        assert WINDOW - 0.05 <= time.monotonic() - started < WINDOW + 0.3
        # the join finishes anyway; the heartbeat after it was skipped
        [reply] = session.messages()
        assert reply[:4] == ["1", "1", "probe:slow", "phx_reply"]

    def test_a_malformed_frame_ends_the_session(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        response = session.request("POST", content="[not json", headers={"content-type": NDJSON})
        assert response.json() == {"status": 410}
        body = session.get()
        assert body["status"] == 410 and body["token"] != session.token


class TestChannelsOverLongPoll:
    """§8.2: Phoenix's long_poll_channels_test cases that are about LongPoll itself."""

    def test_v1_frames_are_json_posts_and_object_messages(self, contract: ThreadedServer) -> None:
        # phoenix.js never speaks V1 over LongPoll; other clients POST one JSON frame at a time
        session = Session(contract, vsn="1.0.0", user="vee").open()
        join = {"topic": "room:lp-v1", "event": "phx_join", "payload": {}, "ref": "1"}
        shout = {"topic": "room:lp-v1", "event": "shout", "payload": {"n": 1}, "ref": "2"}
        for frame in (join, shout):
            assert session.post(frame, content_type="application/json") == {"status": 200}
        assert session.messages() == [
            {
                "event": "phx_reply",
                "payload": {"response": {"topic": "room:lp-v1", "user": "vee"}, "status": "ok"},
                "ref": "1",
                "topic": "room:lp-v1",
            },
            {"event": "shout", "payload": {"n": 1}, "ref": None, "topic": "room:lp-v1"},
            {"event": "phx_reply", "payload": OK_EMPTY, "ref": "2", "topic": "room:lp-v1"},
        ]

    def test_a_v1_object_line_in_a_batch_is_read_as_base64(self, contract: ThreadedServer) -> None:
        session = Session(contract, vsn="1.0.0").open()
        frame = {"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1"}
        response = session.request(
            "POST", content=json.dumps(frame), headers={"content-type": NDJSON}
        )
        assert response.status_code == 400  # as Phoenix: a line not starting with "["

    def test_a_stale_join_ref_in_a_batch_is_dropped(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        session.join("room:lp-stale")
        assert session.post(
            ["1", "2", "room:lp-stale", "echo", {"n": 2}],
            [None, "3", "room:lp-stale", "echo", {"n": 3}],
            ["stale", "4", "room:lp-stale", "echo", {"n": 4}],
        ) == {"status": 200}
        assert [(m[1], m[4]["response"]) for m in session.messages()] == [
            ("2", {"n": 2}),
            ("3", {"n": 3}),
        ]

    def test_the_101st_join_is_refused(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        joins = [[str(n), str(n), f"room:lp-many-{n}", "phx_join", {}] for n in range(1, 102)]
        assert session.post(*joins[:100]) == {"status": 200}
        assert session.post(joins[100]) == {"status": 200}
        replies = session.messages()
        assert [r[4]["status"] for r in replies[:100]] == ["ok"] * 100
        assert replies[100] == [
            "101",
            "101",
            "room:lp-many-101",
            "phx_reply",
            {"response": {"reason": "too many channels joined"}, "status": "error"},
        ]

    def test_a_crash_is_answered_by_phx_error_on_the_next_poll(
        self, contract: ThreadedServer
    ) -> None:
        session = Session(contract).open()
        session.join("room:lp-crash", join_ref="5")
        assert session.post(["5", "6", "room:lp-crash", "crash", {}]) == {"status": 200}
        assert session.messages() == [
            ["5", "5", "room:lp-crash", "phx_error", {"reason": "channel_crash"}]
        ]


class TestTokens:
    """§4.2: a token the server did not sign, or no longer accepts, counts as none."""

    NAMESPACE = "examples.contract.app.ContractSocket"

    def session_ref(self, contract: ThreadedServer, session: Session) -> SessionRef:
        tokens = SessionTokens(SECRET_KEY.encode(), self.NAMESPACE, max_age=1e9)
        ref = tokens.verify(session.token, now=time.time())
        assert ref is not None and ref.node == contract.app.state.endpoint.pubsub.node_name
        return ref

    @pytest.mark.parametrize(
        ("secret", "namespace", "age"),
        [
            pytest.param(SECRET_KEY.encode(), NAMESPACE, 1_209_600 + 60, id="expired"),
            pytest.param(SECRET_KEY.encode(), "other.Socket", 0, id="foreign-namespace"),
            pytest.param(b"another secret of thirty-two bytes!", NAMESPACE, 0, id="other-secret"),
        ],
    )
    def test_refused_for_a_live_session(
        self, contract: ThreadedServer, secret: bytes, namespace: str, age: float
    ) -> None:
        session = Session(contract).open()
        ref = self.session_ref(contract, session)
        token = SessionTokens(secret, namespace, max_age=1_209_600).sign(ref, now=time.time() - age)
        assert session.post([None, "1", "phoenix", "heartbeat", {}], token=token) == {"status": 410}
        body = session.get(token=token)
        assert body["status"] == 410 and body["token"] not in (token, session.token)

    def test_tampered(self, contract: ThreadedServer) -> None:
        session = Session(contract).open()
        assert session.token is not None
        version, payload, mac = session.token.split(".")
        tampered = f"{version}.{payload[:-2]}AA.{mac}"
        assert session.post([None, "1", "phoenix", "heartbeat", {}], token=tampered) == {
            "status": 410
        }
        assert session.get(token=tampered)["status"] == 410

    def test_missing_token_on_post_is_410(self, contract: ThreadedServer) -> None:
        response = Session(contract).request("POST", content="[]")
        assert response.json() == {"status": 410}


class TestLifetime:
    """§4.6: sessions expire without polls, and end with their socket."""

    def test_no_poll_for_one_and_a_half_windows_expires_the_session(
        self, probe: ThreadedServer
    ) -> None:
        session = Session(probe).open()
        session.join("probe:expiry")
        time.sleep(WINDOW * 1.5 + 0.3)
        with terminated_lock:
            assert ("probe:expiry", "inactive") in terminated
        assert session.post([None, "1", "phoenix", "heartbeat", {}]) == {"status": 410}

    def test_polls_keep_a_session_alive(self, probe: ThreadedServer) -> None:
        session = Session(probe).open()
        session.join("probe:alive")
        for _ in range(4):  # 4 windows: well past 1.5 windows
            assert session.get()["status"] == 204
        assert session.post([None, "1", "phoenix", "heartbeat", {}]) == {"status": 200}

    def test_disconnect_by_id_ends_the_session(self, probe: ThreadedServer) -> None:
        session = Session(probe, user="dee").open()
        session.join("probe:dee")
        endpoint: Endpoint = probe.app.state.endpoint
        threading.Timer(0.1, on_loop, (probe, endpoint.disconnect("probe:dee"))).start()
        started = time.monotonic()
        assert session.get()["status"] == 204  # the waiting poll answers at once
        assert time.monotonic() - started < WINDOW - 0.1
        with terminated_lock:
            assert ("probe:dee", "disconnected") in terminated
        assert session.post([None, "1", "phoenix", "heartbeat", {}]) == {"status": 410}
        body = session.get()
        assert body["status"] == 410 and body["token"] != session.token

    def test_a_client_that_does_not_poll_is_closed_past_the_buffer_limit(
        self, probe: ThreadedServer
    ) -> None:
        session = Session(probe).open()
        session.join("probe:flood")
        # 410 when the session closed before the POST was answered
        status = session.post(["1", "2", "probe:flood", "push_many", {"count": 6}])["status"]
        assert status in (200, 410)
        time.sleep(0.1)
        body = session.get()
        assert body["status"] == 410 and body["token"] != session.token

    def test_binary_frames_to_the_client_are_dropped_with_a_warning(
        self, contract: ThreadedServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        session = Session(contract).open()
        session.join("room:lp-binecho")
        echo = binary_push("1", "2", "room:lp-binecho", "binary_echo", b"\x01\x02")
        with caplog.at_level(logging.WARNING, logger="phoenix_py.transport"):
            assert session.post(echo) == {"status": 200}
            assert session.get()["status"] == 204
        assert "binary frames cannot be sent over LongPoll" in caplog.text
        assert session.post(["1", "3", "room:lp-binecho", "echo", {"after": 1}]) == {"status": 200}
        assert [m[4] for m in session.messages()] == [{"response": {"after": 1}, "status": "ok"}]

    def test_sessions_count_as_sockets(self, probe: ThreadedServer) -> None:
        endpoint: Endpoint = probe.app.state.endpoint
        # Earlier tests' sessions expire after WINDOW * 1.5: wait for them first,
        # or one could expire between the two counts.
        deadline = time.monotonic() + WINDOW * 4
        while endpoint.socket_count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert endpoint.socket_count == 0
        Session(probe).open()
        assert endpoint.socket_count == 1


class TestMethodsAndMounting:
    def test_options_preflight(self, contract: ThreadedServer) -> None:
        response = Session(contract).request(
            "OPTIONS", headers={"access-control-request-headers": "x-phoenix-longpoll-token"}
        )
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-allow-headers"] == "x-phoenix-longpoll-token"
        assert response.headers["access-control-allow-methods"] == "get, post, options"
        assert response.headers["access-control-max-age"] == "3600"

    @pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
    def test_other_methods_are_400(self, contract: ThreadedServer, method: str) -> None:
        response = Session(contract).request(method)
        assert (response.status_code, response.content) == (400, b"")
        assert response.headers["access-control-allow-origin"] == "*"

    def test_longpoll_is_off_by_default(self) -> None:
        endpoint = Endpoint()
        app = Starlette(routes=[Mount("/socket", app=endpoint.socket_app(ProbeSocket))])
        with serve(app) as server:
            assert httpx.get(longpoll_url(server)).status_code == 404

    def test_websocket_off(self) -> None:
        with serve(probe_app(websocket=False)) as server:
            assert httpx.get(f"http://127.0.0.1:{server.port}/socket/websocket").status_code == 404
            assert Session(server).get()["status"] == 410

    def test_misuse_raises_naming_the_fix(self) -> None:
        endpoint = Endpoint()
        with pytest.raises(UsageError, match="needs longpoll=True"):
            endpoint.socket_app(ProbeSocket, websocket=False)
        with pytest.raises(UsageError, match="window"):
            LongPollOptions(window=0)
        with pytest.raises(UsageError, match="32 bytes"):
            Endpoint(secret_key="short")


class TestJwtMode:
    """CONTRACT.md JWT mode over LongPoll: the token comes as the ``token`` param or as
    the phoenix.js 1.8 ``X-Phoenix-AuthToken`` header, read when the session is created."""

    SECRET = "jwt secret for the longpoll tests, 32+ bytes"

    def token(self, sub: str, *, expires_in: float = 60) -> str:
        claims = {"sub": sub, "exp": int(time.time() + expires_in)}
        return jwt.encode(claims, self.SECRET, algorithm="HS256")

    @pytest.fixture(scope="class")
    @classmethod
    def jwt_server(cls) -> Iterator[ThreadedServer]:
        app = create_app(jwt_secret=cls.SECRET, longpoll=LongPollOptions(window=WINDOW))
        with serve(app) as server:
            yield server

    def test_auth_token_header(self, jwt_server: ThreadedServer) -> None:
        session = Session(jwt_server)
        body = session.get(headers={"x-phoenix-authtoken": self.token("hal")})
        assert body["status"] == 410
        session.token = body["token"]
        assert session.join("room:private:hal")[4] == {
            "response": {"topic": "room:private:hal", "user": "hal"},
            "status": "ok",
        }

    def test_token_param_then_session_token_param(self, jwt_server: ThreadedServer) -> None:
        # phoenix.js puts both in the query: ?token=<jwt>&vsn=2.0.0&token=<session>; the last wins
        session = Session(jwt_server, token=self.token("ida")).open()
        reply = session.join("room:private:ida")
        assert reply[4]["response"]["user"] == "ida"

    @pytest.mark.parametrize("bad", ["", "not.a.jwt", "expired"])
    def test_bad_tokens_are_refused(self, jwt_server: ThreadedServer, bad: str) -> None:
        token = self.token("joe", expires_in=-10) if bad == "expired" else bad
        assert Session(jwt_server).get(headers={"x-phoenix-authtoken": token}) == {"status": 403}
        assert Session(jwt_server, token=token).get() == {"status": 403}
