"""Topic routes (PHOENIX_PROTOCOL.md §3.2): ``room:*`` by prefix, others exactly."""

from __future__ import annotations

import pytest

from phoenix_py._core.topics import Router
from phoenix_py.errors import UsageError


class TestSection3_2TopicRouting:
    def test_exact_pattern(self) -> None:
        router = Router([("lobby", "Lobby")])
        assert router.match("lobby") == "Lobby"
        assert router.match("lobby:1") is None
        assert router.match("lobb") is None

    def test_wildcard_matches_by_prefix(self) -> None:
        router = Router([("room:*", "Room")])
        assert router.match("room:1") == "Room"
        assert router.match("room:lobby:nested") == "Room"
        assert router.match("room:") == "Room"  # Phoenix's "room:" <> _ matches an empty rest
        assert router.match("room") is None
        assert router.match("rooms:1") is None

    def test_the_pattern_that_matched_is_the_first_declared(self) -> None:
        router = Router([("room:lobby", "Lobby"), ("room:*", "Room"), ("*", "Any")])
        assert router.lookup("room:lobby") == ("room:lobby", "Lobby")
        assert router.lookup("room:1") == ("room:*", "Room")
        assert router.lookup("other") == ("*", "Any")
        assert Router([("a", "A")]).lookup("b") is None

    def test_star_alone_matches_everything(self) -> None:
        router = Router([("*", "Any")])
        assert router.match("") == "Any"
        assert router.match("anything") == "Any"

    def test_first_declared_match_wins(self) -> None:
        router = Router([("room:lobby", "Lobby"), ("room:*", "Room"), ("room:other", "Never")])
        assert router.match("room:lobby") == "Lobby"
        assert router.match("room:other") == "Room"

    def test_add_appends(self) -> None:
        router: Router[str] = Router()
        assert router.match("room:1") is None
        router.add("room:*", "Room")
        router.add("room:1", "Shadowed")
        assert router.match("room:1") == "Room"

    @pytest.mark.parametrize("pattern", ["room:*:messages", "*room", "a**", "**"])
    def test_star_must_end_the_pattern(self, pattern: str) -> None:
        with pytest.raises(UsageError, match="may only end a pattern"):
            Router([(pattern, "X")])
