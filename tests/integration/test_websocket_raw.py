"""Raw-frame tests: exact wire shapes, close codes and refusals, with a Python
``websockets`` client against the contract app under a real uvicorn."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from examples.contract.app import create_app
from phoenix_py import Channel, ConnectInfo, Endpoint, Socket

from .servers import WS_MODES, ThreadedServer, serve


@pytest.fixture(scope="module", params=WS_MODES)
def contract(request: pytest.FixtureRequest) -> Iterator[ThreadedServer]:
    """The contract app under the direct write path and under plain ASGI."""
    with serve(create_app(), request.param) as server:
        yield server


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any
    ) -> None:
        await self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))

    async def recv(self, timeout: float = 5) -> Any:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        return raw if isinstance(raw, bytes) else json.loads(raw)

    async def closed_code(self, timeout: float = 5) -> int | None:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None


async def connect(url: str, **kwargs: Any) -> Client:
    return Client(await websockets.connect(url, **kwargs))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class TestWireShapes:
    def test_v2_heartbeat_join_push_reply_close(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            c = await connect(contract.url(query="vsn=2.0.0&user=ann"))
            await c.send(None, "1", "phoenix", "heartbeat", {})
            assert await c.recv() == [
                None,
                "1",
                "phoenix",
                "phx_reply",
                {"response": {}, "status": "ok"},
            ]
            await c.send("2", "2", "room:1", "phx_join", {})
            assert await c.recv() == [
                "2",
                "2",
                "room:1",
                "phx_reply",
                {"response": {"topic": "room:1", "user": "ann"}, "status": "ok"},
            ]
            await c.send("2", "3", "room:1", "push_me", {"a": 1})
            assert await c.recv() == ["2", None, "room:1", "pushed", {"a": 1}]
            assert await c.recv() == [
                "2",
                "3",
                "room:1",
                "phx_reply",
                {"response": {}, "status": "ok"},
            ]
            await c.send("2", "4", "room:1", "shout", {"b": 2})
            assert await c.recv() == [None, None, "room:1", "shout", {"b": 2}]
            assert await c.recv() == [
                "2",
                "4",
                "room:1",
                "phx_reply",
                {"response": {}, "status": "ok"},
            ]
            await c.send("2", "5", "room:1", "phx_leave", {})
            assert await c.recv() == [
                "2",
                "5",
                "room:1",
                "phx_reply",
                {"response": {}, "status": "ok"},
            ]
            assert await c.recv() == ["2", "2", "room:1", "phx_close", {}]
            await c.send("2", "6", "room:1", "echo", {})
            assert await c.recv() == [
                None,
                "6",
                "room:1",
                "phx_reply",
                {"response": {"reason": "unmatched topic"}, "status": "error"},
            ]
            await c.ws.close()

        run(scenario())

    def test_v1_object_frames(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            ws = await websockets.connect(contract.url(query="vsn=1.0.0"))
            await ws.send(
                json.dumps({"topic": "room:1", "event": "phx_join", "payload": {}, "ref": "1"})
            )
            # Phoenix's V1 frame: exactly these keys, in this order, no join_ref.
            assert await ws.recv() == (
                '{"event":"phx_reply","payload":{"response":{"topic":"room:1","user":null},'
                '"status":"ok"},"ref":"1","topic":"room:1"}'
            )
            await ws.send(
                json.dumps({"topic": "room:1", "event": "stop", "payload": {}, "ref": "2"})
            )
            assert json.loads(await ws.recv())["ref"] == "2"
            # phx_close carries the join message's join_ref: null for a V1 client.
            assert await ws.recv() == (
                '{"event":"phx_close","payload":{},"ref":null,"topic":"room:1"}'
            )
            await ws.close()

        run(scenario())

    def test_no_vsn_means_v1(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            ws = await websockets.connect(contract.url(query=""))
            await ws.send(
                json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "7"})
            )
            assert json.loads(await ws.recv()) == {
                "event": "phx_reply",
                "payload": {"response": {}, "status": "ok"},
                "ref": "7",
                "topic": "phoenix",
            }
            await ws.close()

        run(scenario())

    def test_binary_push_gets_binary_reply(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            c = await connect(contract.url())
            await c.send("1", "1", "room:b", "phx_join", {})
            await c.recv()
            # kind 0, sizes 1 1 6 11, join_ref "1", ref "2", topic, event, payload 01 02
            await c.ws.send(b"\x00\x01\x01\x06\x0b12room:bbinary_echo\x01\x02")
            # kind 1 reply: sizes 1 1 6 2, "1" "2" "room:b" "ok", payload 01 02
            assert await c.recv() == b"\x01\x01\x01\x06\x0212room:bok\x01\x02"
            await c.ws.close()

        run(scenario())

    def test_duplicate_join_replies_then_closes_old(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            c = await connect(contract.url())
            await c.send("1", "1", "room:d", "phx_join", {})
            await c.recv()
            await c.send("2", "2", "room:d", "phx_join", {})
            assert (await c.recv())[:4] == ["2", "2", "room:d", "phx_reply"]
            assert await c.recv() == ["1", "1", "room:d", "phx_close", {}]
            # A message with the old join_ref is stale and dropped; the new join answers.
            await c.send("1", "3", "room:d", "echo", {"old": True})
            await c.send("2", "4", "room:d", "echo", {"new": True})
            assert await c.recv() == [
                "2",
                "4",
                "room:d",
                "phx_reply",
                {"response": {"new": True}, "status": "ok"},
            ]
            await c.ws.close()

        run(scenario())


class TestIsolation:
    def test_crash_gives_phx_error_and_other_channel_lives(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            c = await connect(contract.url())
            await c.send("1", "1", "room:a", "phx_join", {})
            await c.send("2", "2", "room:b", "phx_join", {})
            await c.recv(), await c.recv()
            await c.send("1", "3", "room:a", "crash", {})
            assert await c.recv() == ["1", "1", "room:a", "phx_error", {"reason": "channel_crash"}]
            await c.send("2", "4", "room:b", "echo", {"alive": True})
            assert await c.recv() == [
                "2",
                "4",
                "room:b",
                "phx_reply",
                {"response": {"alive": True}, "status": "ok"},
            ]
            await c.ws.close()

        run(scenario())

    def test_slow_channel_does_not_delay_another(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            c = await connect(contract.url())
            await c.send("1", "1", "room:slow", "phx_join", {})
            await c.send("2", "2", "room:fast", "phx_join", {})
            await c.recv(), await c.recv()
            await c.send("1", "3", "room:slow", "slow_echo", {"ms": 1500})
            for ref in range(4, 9):
                await c.send("2", str(ref), "room:fast", "echo", {"n": ref})
            arrivals = [(await c.recv())[1] for _ in range(6)]
            # Every fast reply arrives, in order, before the slow one.
            assert arrivals == ["4", "5", "6", "7", "8", "3"]
            await c.ws.close()

        run(scenario())

    def test_malformed_frame_closes_only_that_socket(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            good = await connect(contract.url())
            await good.send("1", "1", "room:m", "phx_join", {})
            await good.recv()
            for junk in ["not json", "[1,2]", '{"a":1}', b"\x07\x00", b"\x00\x05\x01"]:
                bad = await connect(contract.url())
                await bad.ws.send(junk)
                assert await bad.closed_code() == 1011
            await good.send("1", "2", "room:m", "echo", {"still": "here"})
            assert (await good.recv())[4] == {"response": {"still": "here"}, "status": "ok"}
            await good.ws.close()

        run(scenario())

    def test_a_flood_closes_only_the_flooding_socket(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            calm = await connect(contract.url())
            flood = await connect(contract.url())
            frame = json.dumps([None, "1", "phoenix", "heartbeat", {}])
            try:
                for _ in range(3_000):  # the default allows a burst of 1,000, then 200/s
                    await flood.ws.send(frame)
            except ConnectionClosed:
                pass
            assert await flood.closed_code() == 1008
            await calm.send(None, "2", "phoenix", "heartbeat", {})
            assert (await calm.recv())[1] == "2"
            await calm.ws.close()

        run(scenario())

    def test_fragmented_frames_and_a_huge_topic(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            c = await connect(contract.url())
            frame = json.dumps(["1", "1", "room:frag", "phx_join", {}])
            # One message in three WebSocket fragments: answered like any other.
            await c.ws.send(iter([frame[:5], frame[5:20], frame[20:]]))
            assert (await c.recv())[:4] == ["1", "1", "room:frag", "phx_reply"]
            # A 100 kB topic under max_frame_size: routed like any topic, answered, no harm.
            topic = "nope:" + "x" * 100_000
            await c.send("2", "2", topic, "phx_join", {})
            assert await c.recv() == [
                None,
                "2",
                topic,
                "phx_reply",
                {"response": {"reason": "unmatched topic"}, "status": "error"},
            ]
            await c.send("1", "3", "room:frag", "echo", {"ok": True})
            assert (await c.recv())[4]["response"] == {"ok": True}
            await c.ws.close()

        run(scenario())


class TestRefusals:
    def status_of(self, url: str, **kwargs: Any) -> int:
        async def attempt() -> int:
            try:
                ws = await websockets.connect(url, **kwargs)
            except InvalidStatus as exc:
                return exc.response.status_code
            await ws.close()
            return 101

        return run(attempt())

    def test_bad_token_is_403(self, contract: ThreadedServer) -> None:
        assert self.status_of(contract.url(query="vsn=2.0.0&token=bad")) == 403
        assert self.status_of(contract.url(query="vsn=2.0.0&token=good")) == 101

    def test_unknown_vsn_is_403(self, contract: ThreadedServer) -> None:
        assert self.status_of(contract.url(query="vsn=123.1.1")) == 403
        assert self.status_of(contract.url(query="vsn=2.1.0")) == 403
        assert self.status_of(contract.url(query="vsn=2.0.7")) == 101

    def test_plain_http_get_is_400(self, contract: ThreadedServer) -> None:
        import httpx

        response = httpx.get(f"http://127.0.0.1:{contract.port}/socket/websocket")
        assert response.status_code == 400
        assert "upgrade" in response.text


class AuthTokenSocket(Socket):
    class Echo(Channel):
        async def join(self, topic: str, payload: Any) -> dict[str, Any]:
            return {"token": self.assigns["token"], "origin": self.socket.connect_info.origin}

    channels = (("t:*", Echo),)

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        self.assigns["token"] = connect_info.auth_token
        return True


def socket_app(
    socket_cls: type[Socket], endpoint: Endpoint | None = None, **options: Any
) -> tuple[Any, Endpoint]:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    endpoint = endpoint or Endpoint()
    app = Starlette(
        routes=[Mount("/socket", app=endpoint.socket_app(socket_cls, **options))],
        lifespan=endpoint.lifespan,
    )
    return app, endpoint


class TestHandshake:
    def test_auth_token_subprotocol(self) -> None:
        app, _ = socket_app(AuthTokenSocket)
        token = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"
        encoded = base64.b64encode(token.encode("latin-1")).decode().rstrip("=")
        assert "/" not in encoded  # "/" is not a legal subprotocol character

        async def scenario(port: int) -> None:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0",
                subprotocols=["phoenix", f"base64url.bearer.phx.{encoded}"],  # type: ignore[list-item]
            )
            assert ws.subprotocol == "phoenix"
            await ws.send(json.dumps(["1", "1", "t:1", "phx_join", {}]))
            reply = json.loads(await ws.recv())
            assert reply[4]["response"]["token"] == token
            await ws.close()

        with serve(app) as server:
            run(scenario(server.port))

    def test_check_origin_default_is_request_host(self) -> None:
        app, _ = socket_app(AuthTokenSocket)
        with serve(app) as server:
            ok = TestRefusals().status_of(server.url(), origin="http://127.0.0.1:9999")  # type: ignore[arg-type]
            bad = TestRefusals().status_of(server.url(), origin="http://evil.example")  # type: ignore[arg-type]
            assert (ok, bad) == (101, 403)

    def test_check_origin_list(self) -> None:
        app, _ = socket_app(AuthTokenSocket, check_origin=["//*.example.com", "https://exact.org"])
        with serve(app) as server:
            status = lambda origin: TestRefusals().status_of(server.url(), origin=origin)  # noqa: E731
            assert status("http://a.b.example.com") == 101
            assert status("https://exact.org") == 101
            assert status("http://exact.org") == 403
            assert status("http://notexample.com") == 403


class TestServerCloses:
    def test_idle_timeout_closes_with_1001_and_heartbeats_keep_alive(self) -> None:
        app, _ = socket_app(AuthTokenSocket, timeout=0.4)

        async def scenario(port: int) -> None:
            url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
            quiet = await connect(url)
            chatty = await connect(url)
            for ref in range(6):  # 6 x 0.15 s: longer than the timeout, never idle for it
                await chatty.send(None, str(ref), "phoenix", "heartbeat", {})
                await chatty.recv()
                await asyncio.sleep(0.15)
            assert await quiet.closed_code() == 1001
            await chatty.send(None, "99", "phoenix", "heartbeat", {})
            assert (await chatty.recv())[1] == "99"
            await chatty.ws.close()

        with serve(app) as server:
            run(scenario(server.port))

    def test_oversized_frame_closes_with_1009(self) -> None:
        app, _ = socket_app(AuthTokenSocket, max_frame_size=1000)

        async def scenario(port: int) -> None:
            c = await connect(f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0")
            await c.send(None, "1", "phoenix", "heartbeat", {"pad": "x" * 2000})
            assert await c.closed_code() == 1009

        with serve(app) as server:
            run(scenario(server.port))

    def test_disconnect_by_id_closes_with_1001(self, contract: ThreadedServer) -> None:
        endpoint: Endpoint = contract.app.state.endpoint

        async def scenario() -> None:
            mine = await connect(contract.url(query="vsn=2.0.0&user=zed"))
            other = await connect(contract.url(query="vsn=2.0.0&user=amy"))
            await mine.send("1", "1", "room:z", "phx_join", {})
            await mine.recv()
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(
                    endpoint.disconnect("user_socket:zed"), contract.loop
                )
            )  # type: ignore[arg-type]
            assert await mine.closed_code() == 1001
            await other.send(None, "1", "phoenix", "heartbeat", {})
            assert (await other.recv())[1] == "1"
            await other.ws.close()

        run(scenario())

    def test_too_many_channels(self, contract: ThreadedServer) -> None:
        async def scenario() -> None:
            c = await connect(contract.url())
            for n in range(1, 102):
                await c.send(str(n), str(n), f"room:{n}", "phx_join", {})
            replies = [await c.recv() for _ in range(101)]
            assert all(r[4]["status"] == "ok" for r in replies[:100])
            assert replies[100] == [
                "101",
                "101",
                "room:101",
                "phx_reply",
                {"response": {"reason": "too many channels joined"}, "status": "error"},
            ]
            await c.ws.close()

        run(scenario())

    def test_shutdown_closes_with_1012(self) -> None:
        app, _ = socket_app(AuthTokenSocket)
        server = ThreadedServer(app)
        server.start()

        async def scenario() -> int | None:
            c = await connect(server.url())
            await asyncio.get_running_loop().run_in_executor(None, server.stop)
            return await c.closed_code()

        try:
            assert run(scenario()) == 1012
        finally:
            server.stop()


class TestCapacityAndDrain:
    def test_connections_over_max_connections_get_503(self) -> None:
        app, endpoint = socket_app(AuthTokenSocket, Endpoint(max_connections=2))

        async def scenario(port: int) -> list[int]:
            url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
            first, second = await connect(url), await connect(url)
            statuses = []
            try:
                await websockets.connect(url)
                statuses.append(101)
            except InvalidStatus as exc:
                statuses.append(exc.response.status_code)
            await first.ws.close()
            deadline = asyncio.get_running_loop().time() + 5
            while endpoint.socket_count > 1 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            third = await connect(url)  # room again once one left
            statuses.append(101)
            await second.ws.close()
            await third.ws.close()
            return statuses

        with serve(app) as server:
            assert run(scenario(server.port)) == [503, 101]

    def test_drain_closes_sockets_in_batches_with_1012(self) -> None:
        app, endpoint = socket_app(AuthTokenSocket)

        async def scenario(server: ThreadedServer) -> tuple[list[int], list[int | None]]:
            clients = [await connect(server.url()) for _ in range(6)]
            codes: list[int | None] = []

            async def watch(client: Client) -> None:
                codes.append(await client.closed_code(timeout=10))

            watchers = [asyncio.create_task(watch(c)) for c in clients]
            draining = asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(
                    endpoint.drain(batch_size=2, interval=1.0),
                    server.loop,  # type: ignore[arg-type]
                )
            )
            counts = []
            for wait in (0.4, 1.0, 1.0):  # mid-way through each interval
                await asyncio.sleep(wait)
                counts.append(len(codes))
            await draining
            await asyncio.gather(*watchers)
            return counts, codes

        with serve(app) as server:
            counts, codes = run(scenario(server))
        assert counts == [2, 4, 6]
        assert codes == [1012] * 6
