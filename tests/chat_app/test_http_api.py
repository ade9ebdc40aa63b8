"""The HTTP API of CHAT_API.md, through httpx on the app in-process."""

from __future__ import annotations

import httpx
import pytest

from .conftest import PASSWORD, TEST_SECRET, SignUp

pytestmark = pytest.mark.anyio


async def lobby_id(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    rooms = (await client.get("/api/rooms", headers=headers)).json()["rooms"]
    return int(next(room["id"] for room in rooms if room["name"] == "lobby"))


class TestSignUp:
    async def test_creates_a_user(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/users", json={"username": "ann_1", "password": PASSWORD})
        assert response.status_code == 201
        assert response.json() == {
            "user": {"id": response.json()["user"]["id"], "username": "ann_1"}
        }

    async def test_a_taken_name_in_any_case_is_409(self, client: httpx.AsyncClient) -> None:
        await client.post("/api/users", json={"username": "Bob", "password": PASSWORD})
        response = await client.post("/api/users", json={"username": "bOB", "password": PASSWORD})
        assert response.status_code == 409
        assert response.json() == {"errors": {"username": ["has already been taken"]}}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"username": "ab", "password": PASSWORD}, "username"),
            ({"username": "a" * 33, "password": PASSWORD}, "username"),
            ({"username": "no-dash", "password": PASSWORD}, "username"),
            ({"username": "émile", "password": PASSWORD}, "username"),
            ({"username": 12345, "password": PASSWORD}, "username"),
            ({"password": PASSWORD}, "username"),
            ({"username": "carol", "password": "1234567"}, "password"),
            ({"username": "carol"}, "password"),
        ],
    )
    async def test_invalid_fields_are_422(
        self, client: httpx.AsyncClient, body: dict[str, object], field: str
    ) -> None:
        response = await client.post("/api/users", json=body)
        assert response.status_code == 422
        assert list(response.json()["errors"]) == [field]

    @pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"\xff"])
    async def test_a_body_that_is_no_json_object_is_400(
        self, client: httpx.AsyncClient, content: bytes
    ) -> None:
        response = await client.post("/api/users", content=content)
        assert response.status_code == 400
        assert "error" in response.json()

    async def test_the_password_is_stored_as_an_argon2_hash(
        self, client: httpx.AsyncClient, app: object
    ) -> None:
        await client.post("/api/users", json={"username": "dora", "password": PASSWORD})
        store = app.state.store  # type: ignore[attr-defined]
        _, password_hash = await store.find_user("dora")
        assert password_hash.startswith("$argon2id$")
        assert PASSWORD not in password_hash


class TestSignIn:
    async def test_answers_a_token_and_the_user(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        ann = await sign_up("ann")
        assert ann["user"]["username"] == "ann"
        assert isinstance(ann["token"], str)
        assert (await client.get("/api/rooms", headers=ann["headers"])).status_code == 200

    async def test_the_same_401_for_a_wrong_password_and_an_unknown_user(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        await sign_up("ann")
        wrong = await client.post("/api/sessions", json={"username": "ann", "password": "nope" * 3})
        unknown = await client.post("/api/sessions", json={"username": "zoe", "password": PASSWORD})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {"error": "invalid username or password"}

    async def test_usernames_match_in_any_case(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        await sign_up("Ann")
        response = await client.post(
            "/api/sessions", json={"username": "aNN", "password": PASSWORD}
        )
        assert response.status_code == 200
        assert response.json()["user"]["username"] == "Ann"


class TestTokens:
    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer", "Bearer not.a.token", "Basic abc", "Bearer " + "x" * 40],
    )
    async def test_a_missing_or_invalid_token_is_401(
        self, client: httpx.AsyncClient, authorization: str | None
    ) -> None:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = await client.get("/api/rooms", headers=headers)
        assert response.status_code == 401
        assert isinstance(response.json()["error"], str)

    async def test_an_expired_token_is_401(self, client: httpx.AsyncClient) -> None:
        from examples.chat_app.app import ISSUER
        from phoenix_py.auth import JWTAuth

        auth = JWTAuth.hs256(TEST_SECRET, issuer=ISSUER)
        token = auth.issue("1", claims={"name": "ann"}, ttl=-60)
        response = await client.get("/api/rooms", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json() == {"error": "token expired"}


class TestRooms:
    async def test_the_lobby_exists_from_the_start(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        ann = await sign_up("ann")
        rooms = (await client.get("/api/rooms", headers=ann["headers"])).json()["rooms"]
        assert {"name": "lobby", "private": False, "id": rooms[0]["id"]} in rooms

    async def test_private_rooms_are_listed_for_members_only(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        ann, bob, cid = await sign_up("ann"), await sign_up("bob"), await sign_up("cid")
        created = await client.post(
            "/api/rooms", json={"name": "Secret", "private": True}, headers=ann["headers"]
        )
        assert created.status_code == 201
        room = created.json()["room"]
        assert room == {"id": room["id"], "name": "Secret", "private": True}
        public = await client.post("/api/rooms", json={"name": "open"}, headers=bob["headers"])
        assert public.json()["room"]["private"] is False

        def names(response: httpx.Response) -> set[str]:
            return {r["name"] for r in response.json()["rooms"]}

        assert names(await client.get("/api/rooms", headers=ann["headers"])) == {
            "lobby",
            "Secret",
            "open",
        }
        assert names(await client.get("/api/rooms", headers=bob["headers"])) == {"lobby", "open"}

        # members only add members; then the new member sees the room
        refused = await client.post(
            f"/api/rooms/{room['id']}/members", json={"username": "cid"}, headers=bob["headers"]
        )
        assert refused.status_code == 403
        added = await client.post(
            f"/api/rooms/{room['id']}/members", json={"username": "bob"}, headers=ann["headers"]
        )
        assert added.status_code == 201
        assert "Secret" in names(await client.get("/api/rooms", headers=bob["headers"]))
        assert "Secret" not in names(await client.get("/api/rooms", headers=cid["headers"]))

    async def test_adding_an_unknown_user_or_to_an_unknown_room(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        ann = await sign_up("ann")
        lobby = await lobby_id(client, ann["headers"])
        room = (
            await client.post(
                "/api/rooms", json={"name": "r", "private": True}, headers=ann["headers"]
            )
        ).json()["room"]
        unknown_user = await client.post(
            f"/api/rooms/{room['id']}/members", json={"username": "ghost"}, headers=ann["headers"]
        )
        assert unknown_user.status_code == 422
        unknown_room = await client.post(
            f"/api/rooms/{lobby + 999}/members", json={"username": "ann"}, headers=ann["headers"]
        )
        assert unknown_room.status_code == 404

    @pytest.mark.parametrize(
        "body",
        [{"name": ""}, {"name": "   "}, {"name": "x" * 65}, {"name": "ok", "private": "yes"}, {}],
    )
    async def test_invalid_rooms_are_422(
        self, client: httpx.AsyncClient, sign_up: SignUp, body: dict[str, object]
    ) -> None:
        ann = await sign_up("ann")
        response = await client.post("/api/rooms", json=body, headers=ann["headers"])
        assert response.status_code == 422
        assert "errors" in response.json()

    async def test_a_taken_room_name_is_409(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        ann = await sign_up("ann")
        response = await client.post("/api/rooms", json={"name": "LOBBY"}, headers=ann["headers"])
        assert response.status_code == 409


class TestMessages:
    async def test_paging_back_oldest_first(
        self, app: object, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        ann = await sign_up("ann")
        lobby = await lobby_id(client, ann["headers"])
        store = app.state.store  # type: ignore[attr-defined]
        ids = [
            (await store.insert_message(lobby, ann["user"], f"message {n}"))["id"]
            for n in range(120)
        ]
        url = f"/api/rooms/{lobby}/messages"
        page = (await client.get(url, headers=ann["headers"])).json()["messages"]
        assert [m["id"] for m in page] == ids[-50:]
        message = page[0]
        assert set(message) == {"id", "room_id", "user", "body", "inserted_at"}
        assert message["user"] == ann["user"] and message["room_id"] == lobby
        assert message["inserted_at"].endswith("Z")

        older = await client.get(
            url, params={"before": ids[70], "limit": 100}, headers=ann["headers"]
        )
        assert [m["id"] for m in older.json()["messages"]] == ids[:70]
        three = await client.get(url, params={"before": ids[3], "limit": 2}, headers=ann["headers"])
        assert [m["id"] for m in three.json()["messages"]] == ids[1:3]

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "before=abc"])
    async def test_bad_paging_parameters(
        self, client: httpx.AsyncClient, sign_up: SignUp, query: str
    ) -> None:
        ann = await sign_up("ann")
        lobby = await lobby_id(client, ann["headers"])
        response = await client.get(f"/api/rooms/{lobby}/messages?{query}", headers=ann["headers"])
        assert response.status_code in (400, 422)

    async def test_a_private_room_is_403_to_others_and_unknown_rooms_404(
        self, client: httpx.AsyncClient, sign_up: SignUp
    ) -> None:
        ann, bob = await sign_up("ann"), await sign_up("bob")
        room = (
            await client.post(
                "/api/rooms", json={"name": "p", "private": True}, headers=ann["headers"]
            )
        ).json()["room"]
        url = f"/api/rooms/{room['id']}/messages"
        assert (await client.get(url, headers=ann["headers"])).status_code == 200
        assert (await client.get(url, headers=bob["headers"])).status_code == 403
        missing = await client.get(
            f"/api/rooms/{room['id'] + 1000}/messages", headers=ann["headers"]
        )
        assert missing.status_code == 404
