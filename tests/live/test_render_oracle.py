"""The client's own rendered.js as the oracle for diffs.

For each template, hypothesis draws a sequence of assign changes (rows inserted,
removed, moved and renamed, conditionals flipping shape, nested loops). The
Python renderer turns each step into a diff; the pinned phoenix_live_view
client merges them all; after every step the client's HTML must equal a
fresh full render of the same assigns. A diff after the first never carries
the statics of a subtree whose shape did not change.
"""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenix_py.live._client import ClientTree
from phoenix_py.live._compile import compile_template
from phoenix_py.live._html import to_html
from phoenix_py.live._render import Renderer

from .conftest import Oracle

ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
ENV.filters["keyed"] = lambda value, *_: value

TEMPLATES = {
    "flat": '<h1>{{ title }}</h1><p class="{{ kind }}">{{ count }} &amp; {{ title|upper }}</p>',
    "branches": (
        "<div>{% if count > 3 %}<b>{{ count }}</b>{% elif kind == 'a' %}<i>{{ title }}</i>"
        "{% else %}none{% endif %}|{% if title %}{{ title }}{% endif %}</div>"
    ),
    "keyed": (
        '<ul id="rows">{% for row in rows|keyed("id") %}'
        '<li id="row-{{ row.id }}"><span>{{ row.name }}</span>{{ title }}</li>'
        "{% endfor %}</ul><p>{{ rows|length }}</p>"
    ),
    "indexed": (
        "<ol>{% for row in rows %}<li>{{ loop.index }}. {{ row.name }}</li>{% endfor %}</ol>"
    ),
    "nested": (
        '{% for group in groups|keyed("id") %}<section id="g{{ group.id }}">'
        "{% if group.open %}{% for row in group.rows %}<i>{{ row.name }}{{ kind }}</i>"
        "{% endfor %}{% else %}closed {{ group.id }}{% endif %}</section>{% endfor %}"
    ),
    "bound": (
        "{% set total = rows|length %}{% for row in rows|keyed('id') %}"
        "{% set label = row.name ~ '/' ~ total %}<p>{{ label }}</p>{% endfor %}{{ total }}"
    ),
}

names = st.sampled_from(["ann", "bob", "<b>x</b>", "", "zoë"])
rows = st.lists(
    st.fixed_dictionaries({"id": st.integers(1, 12), "name": names}),
    max_size=8,
    unique_by=lambda row: row["id"],
)
groups = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.integers(1, 5),
            "open": st.booleans(),
            "rows": st.lists(st.fixed_dictionaries({"name": names}), max_size=3),
        }
    ),
    max_size=4,
    unique_by=lambda group: group["id"],
)
assigns = st.fixed_dictionaries(
    {
        "title": names,
        "kind": st.sampled_from(["a", "b"]),
        "count": st.integers(0, 6),
        "rows": rows,
        "groups": groups,
    }
)


def full_html(name: str, values: dict[str, Any]) -> str:
    template = compile_template(ENV, TEMPLATES[name], name)
    return to_html(Renderer(template).render(values))


def has_statics(diff: Any) -> bool:
    if isinstance(diff, dict):
        return "s" in diff or any(has_statics(value) for value in diff.values())
    if isinstance(diff, list):
        return any(has_statics(value) for value in diff)
    return False


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(assigns, min_size=1, max_size=6), data=st.data())
def test_the_client_rebuilds_every_full_render(
    oracle: Oracle, name: str, steps: list[dict[str, Any]], data: st.DataObject
) -> None:
    renderer = Renderer(compile_template(ENV, TEMPLATES[name], name))
    rendered = [steps[0]]
    diffs = [renderer.render(steps[0])]
    for values in steps[1:]:
        # What the view marks changed: the keys assigned (at least those that differ).
        differing = {key for key in values if values[key] != rendered[-1][key]}
        extra = data.draw(st.sets(st.sampled_from(sorted(values))))
        current = {**rendered[-1], **{key: values[key] for key in differing | extra}}
        diff = renderer.render(current, differing | extra)
        assert "s" not in diff  # the root's statics are never sent again
        if not differing:
            assert diff == {}
        rendered.append(current)
        diffs.append(diff)
    client = oracle.merge(diffs)
    assert client == [full_html(name, values) for values in rendered]
    # the test toolkit's own merge (live._client) agrees with the client's
    tree = ClientTree(diffs[0])
    mirrored = [tree.html()]
    for diff in diffs[1:]:
        tree.merge(diff)
        mirrored.append(tree.html())
    assert mirrored == client


def test_a_changed_title_resends_no_statics() -> None:
    renderer = Renderer(compile_template(ENV, TEMPLATES["keyed"], "keyed"))
    rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    renderer.render({"title": "t", "rows": rows})
    diff = renderer.render({"title": "u", "rows": rows}, {"title"})
    assert not has_statics(diff)
    assert diff == {"0": {"k": {"0": {"2": "u"}, "1": {"2": "u"}, "kc": 2}}}


def test_unchanged_assigns_send_nothing() -> None:
    renderer = Renderer(compile_template(ENV, TEMPLATES["keyed"], "keyed"))
    values = {"title": "t", "rows": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    renderer.render(values)
    assert renderer.render(values, {"rows", "title"}) == {}
    assert renderer.render(values, set()) == {}


def test_a_rename_sends_that_row_alone() -> None:
    renderer = Renderer(compile_template(ENV, TEMPLATES["keyed"], "keyed"))
    rows = [{"id": n, "name": f"Row {n}"} for n in range(1, 501)]
    renderer.render({"title": "", "rows": rows})
    renamed = [*rows[:299], {"id": 300, "name": "Renamed"}, *rows[300:]]
    assert renderer.render({"title": "", "rows": renamed}, {"rows"}) == {
        "0": {"k": {"299": {"1": "Renamed"}, "kc": 500}}
    }


def test_a_move_to_the_top_is_sent_as_indexes() -> None:
    renderer = Renderer(compile_template(ENV, TEMPLATES["keyed"], "keyed"))
    rows = [{"id": n, "name": f"Row {n}"} for n in range(1, 501)]
    renderer.render({"title": "", "rows": rows})
    moved = [rows[299], *rows[:299], *rows[300:]]
    diff = renderer.render({"title": "", "rows": moved}, {"rows"})
    keyed = diff["0"]["k"]
    assert keyed["km"] is True and keyed["kc"] == 500
    assert keyed["0"] == 299 and all(keyed[str(n)] == n - 1 for n in range(1, 300))
    assert "300" not in keyed
