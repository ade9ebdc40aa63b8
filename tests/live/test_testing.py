"""phoenix_py.live.testing, used as a library user would: the contract's live pages
tested in-process, no browser and no network."""

from __future__ import annotations

import pytest

from examples.contract.app import create_app
from phoenix_py import Broadcast
from phoenix_py.live import Live
from phoenix_py.live.testing import live

pytestmark = pytest.mark.anyio

LIVE: Live = create_app().state.live


async def test_counter_clicks_and_title() -> None:
    view = await live(LIVE, "/lv/counter")
    assert view.text("#count") == "0" and view.title == "Count: 0"
    await view.element("#inc5").click()
    await view.element("#dec").click()
    assert view.text("#count") == "4" and view.title == "Count: 4"
    await view.element("#reset").click()
    assert view.text("#count") == "0"


async def test_form_change_and_submit() -> None:
    view = await live(LIVE, "/lv/form")
    await view.form("#user-form", {"user": {"name": "ab"}}).change()
    assert view.text("#target") == "user.name"
    assert view.text("#name-error") == "name is too short"
    await view.form("#user-form", {"user": {"name": "ann", "email": "a@b"}}).submit()
    assert view.text("#result") == "Saved ann <a@b>"
    assert view.select("#user-email")[0]["value"] == "a@b"


async def test_keyed_list_moves_and_renames() -> None:
    view = await live(LIVE, "/lv/list")
    assert len(view.select("[data-testid=row]")) == 500
    await view.element("#top-300").click()
    assert view.select("[data-testid=row]")[0]["id"] == "row-300"
    await view.form("#rename-form", {"row_id": "2", "name": "Two"}).submit()
    assert view.text("#row-2 .name") == "Two"
    await view.element("#remove-1").click()
    assert view.text("#row-count") == "499" and not view.has("#row-1")


async def test_stream_items_as_the_dom_keeps_them() -> None:
    view = await live(LIVE, "/lv/stream")
    await view.element("#prepend").click()
    await view.element("#append").click()
    ids = [item["id"] for item in view.select("[data-testid=item]")]
    assert ids == ["items-4", "items-1", "items-2", "items-3", "items-5"]
    await view.element("#delete-items-2").click()
    assert not view.has("#items-2")
    await view.element("#reset").click()
    assert [item.get_text(strip=True) for item in view.select(".text")] == ["Fresh 6"]


async def test_patch_and_server_patch() -> None:
    view = await live(LIVE, "/lv/patch")
    mount_id = view.text("#mount-id")
    await view.patch("/lv/patch?page=2")
    assert view.text("#page") == "2"
    await view.element("#server-patch").click()
    view.assert_patch("/lv/patch?page=7")
    assert view.text("#page") == "7" and view.text("#mount-id") == mount_id
    assert view.text("#params-calls") == "3"


async def test_navigation_is_asserted() -> None:
    view = await live(LIVE, "/lv/nav/a")
    await view.element("#server-nav").click()
    assert view.assert_redirect("/lv/nav/b").kind == "navigate"
    with pytest.raises(AssertionError, match="the view is gone"):
        await view.element("#server-nav").click()


async def test_push_events_and_hook_replies() -> None:
    view = await live(LIVE, "/lv/events")
    await view.element("#ping").click()
    assert view.assert_push_event("pong", {"n": 1}) == {"n": 1}
    assert await view.hook("calc", {"a": 2, "b": 3}) == {"sum": 5}


async def test_async_results_arrive() -> None:
    view = await live(LIVE, "/lv/async")
    assert view.text("#answer") == "loading"
    await view.sync(1.3)
    assert view.text("#answer") == "42" and view.text("#broken") == "failed"


async def test_flash_and_js_pushes() -> None:
    view = await live(LIVE, "/lv/flash")
    await view.element("#notify").click()
    assert view.text("#flash-info") == "Saved!"
    await view.element("#flash-info").click()
    assert not view.has("#flash-info")
    js = await live(LIVE, "/lv/js")
    await js.element("#js-push").click()
    assert js.text("#js-count") == "2"


async def test_a_crash_is_raised_in_the_test() -> None:
    view = await live(LIVE, "/lv/crash")
    with pytest.raises(RuntimeError, match="asked this view to crash"):
        await view.element("#boom").click()


async def test_a_missing_element_says_so() -> None:
    view = await live(LIVE, "/lv/counter")
    with pytest.raises(AssertionError, match="no element matches '#nope'"):
        await view.element("#nope").click()


async def test_components_keep_their_own_state() -> None:
    view = await live(LIVE, "/lv/components")
    assert view.text("#c1-value") == "0" and view.text("#c2-value") == "0"
    await view.element("#c1-inc").click()
    await view.element("#c1-inc").click()
    await view.element("#c2-inc").click()
    await view.element("#parent-inc").click()
    assert (view.text("#c1-value"), view.text("#c2-value")) == ("2", "1")
    assert view.text("#parent-count") == "1"
    await view.element("#toggle-c2").click()
    assert not view.has("#comp-c2")


async def test_a_removed_component_comes_back_new() -> None:
    view = await live(LIVE, "/lv/components")
    await view.element("#c2-inc").click()
    assert view.text("#c2-value") == "1"
    await view.element("#toggle-c2").click()
    assert not view.has("#comp-c2")
    await view.element("#toggle-c2").click()
    assert view.text("#c2-value") == "0"  # a new component: mounted afresh
    await view.element("#c2-inc").click()
    assert view.text("#c2-value") == "1" and view.text("#c1-value") == "0"


async def test_the_room_keeps_who_is_here_sorted_when_joins_and_leaves_share_a_diff() -> None:
    view = await live(LIVE, "/lv/room/batched?name=zed")
    topic = "lv_room:batched"
    # three presence diffs reach the view together: they go out as one diff, where
    # the page applies the delete of "bob" before every insert
    for diff in (
        {"joins": {"bob": {}, "dan": {}}, "leaves": {}},
        {"joins": {}, "leaves": {"bob": {}}},
        {"joins": {"cid": {}, "amy": {}}, "leaves": {}},
    ):
        LIVE.pubsub.local_broadcast(topic, Broadcast(topic, "presence_diff", diff))
    await view.sync(0.1)
    diffs = [message for message in view.socket.received() if message.event == "diff"]
    assert len(diffs) == 1
    assert [item.get_text() for item in view.select("[data-testid=who]")] == [
        "amy",
        "cid",
        "dan",
        "zed",
    ]
