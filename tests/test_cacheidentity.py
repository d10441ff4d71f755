"""One cache entry, as the legacy builder compares images (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.core.cacheidentity import CONFIG_API, cache_identity, config_api_version

CONFIG: dict[str, Any] = {
    "Hostname": "62a2898de759",
    "Cmd": ["/bin/sh", "-c", "#(nop) COPY file:fc6c in /a "],
    "Env": ["PATH=/bin"],
    "Image": "sha256:parent",
    "Labels": {"a": "1", "b": "2"},
    "Volumes": None,
}


@given(st.text(max_size=12), st.text(max_size=12), st.text(max_size=12))
def test_the_hostname_image_and_working_dir_do_not_count(host: str, image: str, wd: str) -> None:
    other = {**CONFIG, "Hostname": host, "Image": image, "WorkingDir": wd, "Domainname": host}
    assert cache_identity("sha256:p", other) == cache_identity("sha256:p", CONFIG)


def test_missing_and_empty_fields_are_one_identity() -> None:
    empty = {"Cmd": [], "Env": None, "Labels": {}, "ExposedPorts": None, "User": None}
    assert cache_identity("p", empty) == cache_identity("p", {}) == cache_identity("p", None)


def test_label_order_does_not_count_but_their_values_do() -> None:
    swapped = {**CONFIG, "Labels": {"b": "2", "a": "1"}}
    assert cache_identity("p", swapped) == cache_identity("p", CONFIG)
    assert cache_identity("p", {**CONFIG, "Labels": {"a": "1", "b": "3"}}) != cache_identity(
        "p", CONFIG
    )


@given(
    st.sampled_from(["Cmd", "Env", "Entrypoint", "User", "Tty", "Labels", "ExposedPorts"]),
)
def test_each_compared_field_and_the_parent_count(field: str) -> None:
    changed: dict[str, Any] = {
        "Cmd": ["/bin/sh", "-c", "#(nop) COPY file:0000 in /a "],
        "Env": ["PATH=/bin", "X=1"],
        "Entrypoint": ["sh"],
        "User": "1000",
        "Tty": True,
        "Labels": {"a": "1"},
        "ExposedPorts": {"80/tcp": {}},
    }
    assert cache_identity("p", {**CONFIG, field: changed[field]}) != cache_identity("p", CONFIG)
    assert cache_identity("q", CONFIG) != cache_identity("p", CONFIG)


@given(st.integers(min_value=0, max_value=60))
def test_the_config_is_read_with_the_engine_s_api_up_to_the_last_that_reports_it(
    minor: int,
) -> None:
    chosen = config_api_version(f"1.{minor}")
    newest = f"{CONFIG_API[0]}.{CONFIG_API[1]}"
    assert chosen == (f"1.{minor}" if minor <= CONFIG_API[1] else newest)


def test_engine_28_5_is_asked_with_1_44_and_20_10_with_its_own() -> None:
    assert config_api_version("1.51") == "1.44" and config_api_version("1.41") == "1.41"
