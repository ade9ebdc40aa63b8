"""Connect params from the query string, with Plug's bracket keys (PHOENIX_PROTOCOL.md §1.4).

phoenix.js serializes ``params`` as nested bracket keys (``Ajax.serialize``);
Plug reads them back into maps and lists, and values stay strings.
"""

from __future__ import annotations

from typing import Any

import pytest

from phoenix_py._core.params import parse_params


class TestPlainKeys:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("", {}),
            ("token=abc&vsn=2.0.0", {"token": "abc", "vsn": "2.0.0"}),
            ("a=1&a=2", {"a": "2"}),  # the last value wins
            ("blank=", {"blank": ""}),  # blank values are kept
            ("flag", {"flag": ""}),  # a key without '=' is an empty string
            ("a=1+2&b=%20%26", {"a": "1 2", "b": " &"}),  # form decoding
            ("name=%C3%A9", {"name": "é"}),  # percent-encoded UTF-8
            ("[x]=1", {"[x]": "1"}),  # no name before the bracket: a plain key
            ("a[b=1", {"a[b": "1"}),  # unclosed bracket: a plain key
        ],
    )
    def test_plain(self, query: str, expected: dict[str, Any]) -> None:
        assert parse_params(query) == expected

    def test_bytes_query_string(self) -> None:
        # b"token=abc&vsn=2.0.0": ASGI's query_string is bytes
        assert parse_params(b"token=abc&vsn=2.0.0") == {"token": "abc", "vsn": "2.0.0"}

    def test_raw_utf8_bytes(self) -> None:
        # b"name=\xc3\xa9": "é" sent without percent-encoding
        assert parse_params(b"name=\xc3\xa9") == {"name": "é"}


class TestBracketKeys:
    def test_nested_map_and_indexed_list(self) -> None:
        # what phoenix.js sends for params {user: {id: 1, tags: ["a"]}}
        assert parse_params("user[id]=1&user[tags][0]=a") == {
            "user": {"id": "1", "tags": {"0": "a"}}
        }

    def test_percent_encoded_brackets(self) -> None:
        # user%5Bid%5D=1: phoenix.js encodeURIComponent()s the whole key
        assert parse_params("user%5Bid%5D=1&user%5Btags%5D%5B0%5D=a") == {
            "user": {"id": "1", "tags": {"0": "a"}}
        }

    def test_empty_brackets_append_to_a_list(self) -> None:
        assert parse_params("a[]=1&a[]=2") == {"a": ["1", "2"]}

    def test_list_inside_a_map(self) -> None:
        assert parse_params("a[b][]=1&a[b][]=2&a[c]=3") == {"a": {"b": ["1", "2"], "c": "3"}}

    def test_blank_nested_value(self) -> None:
        assert parse_params("user[name]=&a[]=") == {"user": {"name": ""}, "a": [""]}

    def test_later_keys_win_conflicts(self) -> None:
        assert parse_params("a=1&a[b]=2") == {"a": {"b": "2"}}
        assert parse_params("a[b]=2&a=1") == {"a": "1"}
        assert parse_params("a[b]=1&a[b]=2") == {"a": {"b": "2"}}

    def test_merges_siblings(self) -> None:
        assert parse_params("user[id]=1&token=t&user[name]=jo") == {
            "user": {"id": "1", "name": "jo"},
            "token": "t",
        }
