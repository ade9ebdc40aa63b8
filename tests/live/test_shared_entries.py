"""Stream entries rendered once for every view: an immutable item in a stream whose
body reads nothing but the entry gives the same entry, whichever view renders it."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import jinja2

from phoenix_py.live._compile import Loop, compile_template
from phoenix_py.live._render import ENTRY_CACHE_SIZE, ComponentCall, Renderer, StreamOps

ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
WHO = (
    '<ul>{% for dom_id, name in streams.who %}<li id="{{ dom_id }}">{{ name }}</li>'
    "{% endfor %}</ul>"
)
Message = namedtuple("Message", "id name body")


def stream_loop(source: str, **globals_: Any) -> tuple[Any, Loop]:
    template = compile_template(ENV, source, "t", globals=globals_)
    [loop] = [step for step in template.steps if isinstance(step, Loop)]
    return template, loop


def render(template: Any, items: list[Any], **assigns: Any) -> dict[str, Any]:
    ops = StreamOps(
        "0", [(f"who-{index}", -1, None, False, item) for index, item in enumerate(items)], []
    )
    return Renderer(template).render(assigns, None, {"who": ops})


def entries(diff: dict[str, Any]) -> list[Any]:
    keyed = diff["0"]["k"]
    return [keyed[str(position)] for position in range(keyed["kc"])]


def test_two_views_share_the_entries_of_the_same_strings() -> None:
    template, loop = stream_loop(WHO)
    first, second = render(template, ["ann", "bob"]), render(template, ["ann", "bob"])
    assert first == second
    assert all(a is b for a, b in zip(entries(first), entries(second), strict=True))
    assert entries(first)[0] == {"0": "who-0", "1": "ann"}
    assert loop.entry_cache is not None and len(loop.entry_cache) == 2


def test_named_tuples_are_shared_by_value_and_dicts_are_not() -> None:
    source = (
        "<ul>{% for dom_id, m in streams.who %}"
        '<li id="{{ dom_id }}">{{ m.name }}: {{ m.body }}</li>{% endfor %}</ul>'
    )
    template, _ = stream_loop(source)
    one = render(template, [Message("1", "ann", "<hi>")])
    other = render(template, [Message("1", "ann", "<hi>")])  # an equal tuple, another object
    assert entries(one)[0] is entries(other)[0]
    assert entries(one)[0] == {"0": "who-0", "1": "ann", "2": "&lt;hi&gt;"}
    as_dicts = [render(template, [{"name": "ann", "body": "hi"}]) for _ in range(2)]
    assert entries(as_dicts[0])[0] == entries(as_dicts[1])[0]
    assert entries(as_dicts[0])[0] is not entries(as_dicts[1])[0]  # a dict may change


def test_a_body_that_reads_an_assign_or_the_loop_renders_per_view() -> None:
    for source in (
        '{% for dom_id, name in streams.who %}<li class="{{ me }}">{{ name }}</li>{% endfor %}',
        "{% for dom_id, name in streams.who %}<li>{{ loop.index }} {{ name }}</li>{% endfor %}",
    ):
        template, loop = stream_loop(source)
        assert loop.entry_cache is None
        assert entries(render(template, ["ann"], me="x"))[0] != {}


def test_an_entry_showing_a_component_is_this_views_alone() -> None:
    class Badge:
        pass

    class Host:
        def __init__(self, cid: int) -> None:
            self.cid = cid

        def render_call(self, call: ComponentCall) -> int:
            return self.cid

    source = (
        "{% for dom_id, name in streams.who %}"
        "<li>{{ live_component(Badge, id=name) }}</li>{% endfor %}"
    )
    template, loop = stream_loop(
        source, live_component=lambda cls, id: ComponentCall(cls, id), Badge=Badge
    )
    diffs = []
    for cid in (1, 2):
        ops = StreamOps("0", [("who-0", -1, None, False, "ann")], [])
        diffs.append(Renderer(template).render({}, None, {"who": ops}, Host(cid)))
    assert [entries(diff)[0]["0"] for diff in diffs] == [1, 2]
    assert loop.entry_cache == {}


def test_the_cache_keeps_the_newest_entries() -> None:
    template, loop = stream_loop(WHO)
    render(template, [f"user-{number}" for number in range(ENTRY_CACHE_SIZE + 5)])
    assert loop.entry_cache is not None and len(loop.entry_cache) == ENTRY_CACHE_SIZE
    assert ("who-0", "user-0") not in loop.entry_cache
