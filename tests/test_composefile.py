from __future__ import annotations

import pytest
import yaml

from harness.core.composefile import ComposeFileError, ServiceBuild, image_override, service_build


def test_short_form_is_the_context() -> None:
    build = service_build("version: '2'\nservices:\n  test:\n    build: .\n", "test")
    assert build == ServiceBuild(context=".")
    assert build.cli_options() == []
    assert build.dockerfile_path == "Dockerfile"


def test_long_form_maps_to_cli_options() -> None:
    text = """
services:
  web:
    build:
      context: ./app
      dockerfile: ../docker/Custom.Dockerfile
      args:
        VERSION: 1.0
        EMPTY:
      target: final
      cache_from: [x]
"""
    build = service_build(text, "web")
    assert build.dockerfile_path == "docker/Custom.Dockerfile"
    assert build.cli_options() == [
        "--file",
        "docker/Custom.Dockerfile",
        "--build-arg",
        "VERSION=1.0",
        "--build-arg",
        "EMPTY=",
        "--target",
        "final",
    ]
    assert build.ignored == ("cache_from",)


def test_list_form_args() -> None:
    text = "services:\n  s:\n    build:\n      context: .\n      args: ['A=1', 'B']\n"
    assert service_build(text, "s").args == {"A": "1", "B": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [", "not valid YAML"),
        ("version: '1'\n", "has no services"),
        ("services:\n  a:\n    image: x\n", "no service 'b' in the compose file (services: a)"),
        ("services:\n  b:\n    image: x\n", "service 'b' has no build section"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ComposeFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        service_build(text, "b")


@pytest.mark.parametrize(
    ("main", "expected"),
    [
        ("version: '2.1'\nservices:\n  web:\n    build: .\n    image: me/web:dev\n", "2.1"),
        ("services:\n  web:\n    build: .\n", None),
    ],
)
def test_the_cell_names_the_image_in_a_file_of_the_same_version(
    main: str, expected: str | None
) -> None:
    override = yaml.safe_load(image_override(main, "web", "cache-bisect/compose:abc"))
    assert override.get("version") == expected
    assert override["services"] == {"web": {"image": "cache-bisect/compose:abc"}}
