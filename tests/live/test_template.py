"""Live templates: Jinja2 syntax compiled into statics and slots; what an expression
means; errors that name the template and the line; which assigns each slot reads."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest
from markupsafe import Markup

from phoenix_py.live._compile import Branches, Loop, Output, compile_template
from phoenix_py.live._html import to_html
from phoenix_py.live._render import Renderer, TemplateRuntimeError

ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
ENV.filters["keyed"] = lambda value, *_: value


def html(source: str, **assigns: Any) -> str:
    return to_html(Renderer(compile_template(ENV, source, "page.html")).render(assigns))


class TestCompile:
    def test_statics_and_slots(self) -> None:
        template = compile_template(ENV, "<p>{{ a }} and {{ b.c }}</p>{% set d = a %}", "t")
        assert template.statics == ("<p>", " and ", "</p>")
        first, second, _bind = template.steps
        assert isinstance(first, Output) and first.deps == {"a"}
        assert isinstance(second, Output) and second.deps == {"b"}
        assert template.deps == {"a", "b"}

    def test_locals_stand_for_what_they_read(self) -> None:
        template = compile_template(
            ENV,
            "{% set n = items|length %}{% for i in items %}{{ i }}{{ n }}{{ other }}{% endfor %}",
            "t",
        )
        loop = template.steps[1]
        assert isinstance(loop, Loop) and loop.deps == {"items", "other"}
        assert [step.deps for step in loop.body.steps] == [{"items"}, {"items"}, {"other"}]

    def test_branch_deps_cover_tests_and_bodies(self) -> None:
        template = compile_template(
            ENV, "{% if a %}{{ b }}{% elif c %}x{% else %}{{ d }}{% endif %}", "t"
        )
        [branches] = template.steps
        assert isinstance(branches, Branches) and branches.deps == {"a", "b", "c", "d"}

    def test_keyed_and_stream_loops(self) -> None:
        keyed = compile_template(ENV, '{% for r in rows|keyed("user.id") %}{% endfor %}', "t")
        stream = compile_template(ENV, "{% for dom_id, m in streams.msgs %}{% endfor %}", "t")
        assert isinstance(keyed.steps[0], Loop) and keyed.steps[0].key == ("user", "id")
        assert isinstance(stream.steps[0], Loop) and stream.steps[0].stream == "msgs"


class TestErrors:
    @pytest.mark.parametrize(
        ("source", "line", "words"),
        [
            ("<p>\n{% if a %}\nopen", 3, "Unexpected end of template"),
            ("<p>\n\n{{ a | nosuchfilter }}", 3, "no filter named 'nosuchfilter'"),
            ("a\n{% macro m() %}{% endmacro %}", 2, "{% macro %} is not supported"),
            ("{% include 'x.html' %}", 1, "{% include %} is not supported"),
            ("{% for a in b %}{% else %}none{% endfor %}", 1, "plain for loops"),
            ("\n{% for a in b|keyed(1) %}{% endfor %}", 2, "keyed takes one attribute name"),
            ("{% for m in streams.msgs %}{% endfor %}", 1, "for dom_id, item in streams"),
        ],
    )
    def test_syntax_errors_name_the_file_and_line(self, source: str, line: int, words: str) -> None:
        with pytest.raises(jinja2.TemplateSyntaxError) as error:
            compile_template(ENV, source, "page.html")
        assert error.value.lineno == line and error.value.name == "page.html"
        assert words in str(error.value)

    @pytest.mark.parametrize(
        ("source", "assigns", "words"),
        [
            ("<p>\n{{ missing }}</p>", {}, "page.html, line 2: 'missing' is not an assign"),
            (
                "\n{{ user.nope.deeper }}",
                {"user": {"name": "a"}},
                "line 2: 'dict object' has no attribute 'nope'",
            ),
            ("\n\n{% if 1 / zero %}{% endif %}", {"zero": 0}, "line 3: division by zero"),
            (
                "{% for r in rows|keyed('id') %}{% endfor %}",
                {"rows": [{"id": 1}, {"id": 1}]},
                "duplicate key 1",
            ),
            ("{% for r in rows|keyed('id') %}{% endfor %}", {"rows": [{}]}, "no key id"),
        ],
    )
    def test_runtime_errors_name_the_file_and_line(
        self, source: str, assigns: dict[str, Any], words: str
    ) -> None:
        with pytest.raises(TemplateRuntimeError) as error:
            html(source, **assigns)
        assert words in str(error.value)


class TestExpressions:
    def test_escaping(self) -> None:
        assert html("{{ x }}|{{ x|safe }}|{{ m }}", x="<b>&", m=Markup("<i>")) == (
            "&lt;b&gt;&amp;|<b>&|<i>"
        )

    def test_none_renders_as_nothing(self) -> None:
        assert html("[{{ x }}]", x=None) == "[]"

    def test_a_missing_attribute_is_undefined_as_in_jinja(self) -> None:
        source = "[{{ d.nope }}]{% if d.nope %}yes{% else %}no{% endif %}{{ d['k']|default('z') }}"
        assert html(source, d={}) == "[]noz"

    def test_attribute_then_item_as_jinja(self) -> None:
        class User:
            name = "attr"

        assert (
            html(
                "{{ u.name }} {{ d.name }} {{ d['k'] }} {{ xs[1] }} {{ xs[0:2]|join(',') }}",
                u=User(),
                d={"name": "item", "k": 2},
                xs=[5, 6, 7],
            )
            == "attr item 2 6 5,6"
        )

    def test_filters_tests_and_defaults(self) -> None:
        out = html(
            "{{ n|default(3) }} {{ u.x|d('none') }} {{ 4 is even }} {{ a is defined }} "
            "{{ b is undefined }} {{ xs|sort|join('-') }} {{ 'a' ~ 1 ~ x }}",
            u={},
            a=1,
            xs=[3, 1, 2],
            x="<",
        )
        assert out == "3 none True True True 1-2-3 a1&lt;"

    def test_operators(self) -> None:
        assert html(
            "{{ 7 // 2 }} {{ 2 ** 3 }} {{ -x + 1 }} {{ x in xs and not y or z }} "
            "{{ 'y' if x > 1 else 'n' }} {{ x != 2 }}",
            x=3,
            xs=[3],
            y=False,
            z=0,
        ) == ("3 8 -2 True y True")

    def test_loop_variables(self) -> None:
        out = html(
            "{% for x in xs %}{{ loop.index }}/{{ loop.length }}"
            "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %} {% endfor %}",
            xs="abc",
        )
        assert out == "1/3F 2/3 3/3L "

    def test_calls(self) -> None:
        assert html("{{ f(2, y=3) }} {{ d.get('k', 'z') }}", f=lambda x, y: x * y, d={}) == "6 z"
