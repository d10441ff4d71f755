"""What docker-compose will build for a service, read from its compose file (pure).

The reference `docker build` must get the same context, Dockerfile, build args and target as
the compose service, or a difference in the cache would be our doing, not the builders'.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import yaml

from harness.core.errors import UserError

_SUPPORTED = {"context", "dockerfile", "args", "target"}


class ComposeFileError(UserError):
    """The compose file cannot be read or has no buildable service of that name."""


@dataclass(frozen=True)
class ServiceBuild:
    context: str = "."  # relative to the compose file's folder
    dockerfile: str = "Dockerfile"  # relative to the context, as compose reads it
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    image: str | None = None  # the service's `image:` — the tag compose gives the build
    ignored: tuple[str, ...] = ()  # build options the reference CLI build does not mirror

    @property
    def dockerfile_path(self) -> str:
        """The Dockerfile relative to the compose file's folder (may leave the context)."""
        return posixpath.normpath(posixpath.join(self.context, self.dockerfile))

    def cli_options(self) -> list[str]:
        """``docker build`` options equivalent to this build section (context goes last)."""
        options = []
        if self.dockerfile != "Dockerfile":
            options += ["--file", self.dockerfile_path]
        for key, value in self.args.items():
            options += ["--build-arg", f"{key}={value}"]
        if self.target:
            options += ["--target", self.target]
        return options


def _where(error: yaml.YAMLError) -> str:
    """ " at line L, column C: what is wrong", one line, from PyYAML's multi-line report."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{at}: {' '.join(str(problem).split())}"


def service_build(text: str, service: str) -> ServiceBuild:
    """The build of ``service``, every field checked for the shape compose gives it."""
    definition = _service(text, service)
    image = definition.get("image")
    if image is not None and not isinstance(image, str | int | float):
        raise ComposeFileError(f"service {service!r}: image must be a name, not {_shape(image)}")
    build = _build_section(definition.get("build"), service)
    where = f"service {service!r}: build"
    result = ServiceBuild(
        context=build.get("context", "."),
        dockerfile=build.get("dockerfile", "Dockerfile"),
        args=_args(build.get("args"), where),
        target=build.get("target"),
        image=str(image) if image else None,
        ignored=tuple(sorted(str(key) for key in set(build) - _SUPPORTED)),
    )
    for key, path in (("context", result.context), ("dockerfile", result.dockerfile_path)):
        _check_local(path, f"{where}.{key}")
    return result


def _service(text: str, service: str) -> dict[str, Any]:
    """The definition of ``service`` in the compose file's ``services``, a mapping."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ComposeFileError(f"not valid YAML{_where(error)}") from None
    services = (document or {}).get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise ComposeFileError("the compose file has no services (a version 2+ file is needed)")
    if service not in services:
        names = ", ".join(sorted(str(name) for name in services))
        raise ComposeFileError(f"no service {service!r} in the compose file (services: {names})")
    definition = services[service]
    if not isinstance(definition, dict):
        raise ComposeFileError(
            f"service {service!r} must be a mapping (e.g. build: .), not {_shape(definition)}"
        )
    return definition


def _build_section(build: object, service: str) -> dict[str, Any]:
    """``build:`` as a mapping (a string is its context), its path fields strings."""
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        raise ComposeFileError(f"service {service!r} has no build section")
    for key in ("context", "dockerfile", "target"):
        if key in build and not isinstance(build[key], str):
            raise ComposeFileError(
                f"service {service!r}: build.{key} must be a string, not {_shape(build[key])}"
            )
    return build


def _check_local(path: str, what: str) -> None:
    """The harness copies the project folder only: a path must stay inside it."""
    if "://" in path or path.startswith("git@"):
        raise ComposeFileError(f"{what} {path!r} is remote: only a local folder")
    if posixpath.isabs(path) or posixpath.normpath(path).split("/")[0] == "..":
        raise ComposeFileError(
            f"{what} {path!r} leaves the project folder: the harness copies only it"
        )


def _args(value: object, where: str) -> dict[str, str]:
    """build.args as compose reads them: a mapping of scalars, or a list of "KEY=value"."""
    scalar = str | int | float | bool | None
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        pairs = [item.split("=", 1) if "=" in item else [item, ""] for item in value]
        return {key: text for key, text in pairs}
    if isinstance(value, dict) and all(isinstance(item, scalar) for item in value.values()):
        return {str(key): "" if item is None else str(item) for key, item in value.items()}
    raise ComposeFileError(
        f'{where}.args must be a mapping (KEY: value) or a list of "KEY=value" strings, '
        f"not {_shape(value)}"
    )


def _shape(value: object) -> str:
    """How a YAML value looks to its author: "a list", "a string 'x'"."""
    names = {str: "a string", list: "a list", dict: "a mapping", bool: "a boolean"}
    name = names.get(type(value), "a number" if isinstance(value, int | float) else "null")
    return f"{name} {value!r:.40}" if isinstance(value, str | int | float) else name


# build.network needs compose file format 2.2+ (2.x) or 3.4+ (3.x) for docker-compose 1.x;
# docker-compose 2.x ignores the version key.
_NETWORK_FORMATS = {"2": "2.4", "2.0": "2.4", "2.1": "2.4", "3": "3.4"}


def with_build_network(text: str, service: str, network: str) -> str:
    """The compose file with ``build.network`` set for ``service`` (BuildKit RUN steps on an
    engine without a default bridge need ``none``), in a file format that allows it."""
    document = yaml.safe_load(text)
    definition = document["services"][service]
    build = definition.get("build")
    build = {"context": build} if isinstance(build, str) else dict(build)
    build["network"] = network
    definition["build"] = build
    version = str(document.get("version", ""))
    if version in _NETWORK_FORMATS or version.startswith(("3.0", "3.1", "3.2", "3.3")):
        document["version"] = _NETWORK_FORMATS.get(version, "3.4")
    return yaml.safe_dump(document, sort_keys=False)


def without_build_keys(text: str, service: str, keys: tuple[str, ...]) -> str:
    """The compose file with the build ``keys`` of ``service`` removed (a remedy's trial);
    a key the build section does not have is a ComposeFileError naming it."""
    document = yaml.safe_load(text)
    definition = document["services"][service]
    build = definition.get("build")
    build = {"context": build} if isinstance(build, str) else dict(build)
    missing = [key for key in keys if key not in build]
    if missing:
        raise ComposeFileError(
            f"service {service!r} has no build.{', build.'.join(missing)} to remove: "
            "docker-compose sends it on its own"
        )
    definition["build"] = {key: value for key, value in build.items() if key not in keys}
    return yaml.safe_dump(document, sort_keys=False)


def image_override(text: str, service: str, image: str) -> str:
    """A second compose file that names ``service``'s image ``image``: the build tags the
    cell's own name, never the user's ``image:`` (a tag is no part of a cache key). It has the
    main file's ``version``, since docker-compose 1.x refuses files of different versions."""
    document = yaml.safe_load(text)
    override: dict[str, object] = {}
    if isinstance(document, dict) and "version" in document:
        override["version"] = document["version"]
    override["services"] = {service: {"image": image}}
    return yaml.safe_dump(override, sort_keys=False)
