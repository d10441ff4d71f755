"""Dockerfiles read the way the legacy builder reads them, stage by stage.

The verdict names the first step that missed the cache as ``Step k/N`` names it, so the
numbering must be the engine's: the line parser of moby/buildkit's ``frontend/dockerfile/
parser`` (which the legacy builder uses) — parser directives (``# escape=``), continuations
joined without a space, comment and empty lines inside a continuation dropped — and the legacy
builder's count: every ``ARG`` before the first ``FROM``, then each stage's ``FROM`` and its
instructions (an ``ONBUILD`` is one step). The engine test checks this against the engine's
own ``Step k/N`` lines on a corpus of Dockerfiles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from harness.core.errors import UserError

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_BOM = "\ufeff"


class DockerfileError(UserError):
    """A Dockerfile the builder would refuse, or a construct the harness cannot follow."""


@dataclass(frozen=True)
class Instruction:
    """One step: its number as the builder prints it, keyword, and text after ``Step k/N :``.

    ``stage`` is the index of the stage it belongs to (None for an ``ARG`` before the first
    ``FROM``); ``lines`` are the 0-based source lines it spans, for rewriting a ``FROM``.
    """

    step: int
    keyword: str
    text: str
    stage: int | None = None
    flags: tuple[str, ...] = ()
    args: str = ""
    lines: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Stage:
    """``FROM base [AS name]`` and the instructions after it, up to the next ``FROM``."""

    index: int
    name: str | None
    base: str  # the FROM argument as written (build args not expanded)
    instructions: tuple[Instruction, ...]  # the FROM first

    @property
    def label(self) -> str:
        """How a user names the stage: its name, else its index."""
        return self.name if self.name is not None else str(self.index)


@dataclass(frozen=True)
class Dockerfile:
    meta_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    escape: str = "\\"

    def built_stages(self, target: str | None = None) -> tuple[Stage, ...]:
        """The stages the legacy builder runs: every one up to ``target`` (all without one)."""
        if target is None:
            return self.stages
        wanted = target.lower()
        for stage in self.stages:
            if stage.name == wanted:
                return self.stages[: stage.index + 1]
        raise DockerfileError(f"target stage {target} could not be found")

    def steps(self, target: str | None = None) -> tuple[Instruction, ...]:
        """Every step the legacy builder prints, in order (the numbering ignores ``target``:
        it only drops later stages)."""
        return self.meta_args + tuple(
            instruction for stage in self.built_stages(target) for instruction in stage.instructions
        )

    def stage_named(self, reference: str) -> Stage | None:
        """The stage a ``FROM`` (by name) or ``COPY --from`` (by name or index) refers to."""
        for stage in self.stages:
            if stage.name == reference.lower():
                return stage
        if reference.isdigit() and int(reference) < len(self.stages):
            return self.stages[int(reference)]
        return None

    def meta_values(self, build_args: Mapping[str, str | None]) -> dict[str, str]:
        """The values ``FROM`` lines may use: meta ``ARG`` defaults, overridden by build args
        (only for the ARGs declared before the first FROM, as the builder does)."""
        values: dict[str, str] = {}
        for instruction in self.meta_args:
            for name, default in _arg_pairs(instruction.args):
                given = build_args.get(name)
                if given is not None:
                    values[name] = given
                elif default is not None:
                    values[name] = expand(default, values, self.escape)
        return values

    def base_of(self, stage: Stage, build_args: Mapping[str, str | None]) -> str:
        """The image or stage a stage starts from, build args expanded as the builder does."""
        name = expand(stage.base, self.meta_values(build_args), self.escape)
        if not name:
            raise DockerfileError(f"base name ({stage.base}) should not be blank")
        return name


def parse_dockerfile(source: str) -> Dockerfile:
    """Parse a Dockerfile as the legacy builder does; DockerfileError for what it refuses."""
    escape = "\\"
    directives_done = False
    seen: set[str] = set()
    lines = source.split("\n")
    if lines and lines[0].startswith(_BOM):
        lines[0] = lines[0][len(_BOM) :]
    nodes: list[tuple[str, int, int]] = []
    index = 0

    def directive(line: str) -> None:
        nonlocal directives_done, escape
        if directives_done:
            return
        match = _DIRECTIVE.match(line)
        key = match.group(1).lower() if match else ""
        if key not in ("escape", "syntax"):
            directives_done = True
            return
        if key in seen:
            raise DockerfileError(f"only one {key} parser directive can be used")
        seen.add(key)
        if key == "escape":
            value = match.group(2) if match else ""
            if value not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token '{value}' does not match ` or \\")
            escape = value

    def continued(line: str) -> tuple[str, bool]:
        match = re.search(re.escape(escape) + r"[ \t]*$", line)
        return (line[: match.start()], False) if match else (line, True)

    while index < len(lines):
        raw = lines[index].rstrip("\r")
        stripped = raw.lstrip()
        directive(stripped)
        start = index
        index += 1
        text = "" if stripped.startswith("#") else stripped
        line, ended = continued(text)
        if ended and line == "":
            continue
        while not ended and index < len(lines):
            raw = lines[index].rstrip("\r")
            directive(raw)
            index += 1
            if raw.lstrip().startswith("#"):
                continue  # a comment inside a continuation
            if raw.strip() == "":
                continue  # an empty continuation line (the engine warns and goes on)
            more, ended = continued(raw)
            line += more
        nodes.append((line, start, index - 1))
    if not nodes:
        raise DockerfileError("file with no instructions")
    return _stages(nodes, escape)


def _stages(nodes: list[tuple[str, int, int]], escape: str) -> Dockerfile:
    meta: list[Instruction] = []
    stages: list[tuple[Instruction, list[Instruction]]] = []
    for number, (line, start, end) in enumerate(nodes, start=1):
        keyword, flags, args = _split(line)
        instruction = Instruction(
            step=number,
            keyword=keyword,
            text=line.strip(),
            stage=len(stages) if keyword == "FROM" else (len(stages) - 1 if stages else None),
            flags=flags,
            args=args,
            lines=(start, end),
        )
        if keyword == "FROM":
            stages.append((instruction, []))
        elif not stages:
            if keyword != "ARG":
                raise DockerfileError(f"{keyword} before the first FROM: only ARG may come first")
            meta.append(instruction)
        else:
            stages[-1][1].append(instruction)
    if not stages:
        raise DockerfileError("the Dockerfile has no FROM line")
    built: list[Stage] = []
    for index, (opening, rest) in enumerate(stages):
        words = opening.args.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            raise DockerfileError(f"FROM requires either one or three arguments: {opening.text}")
        name = words[2].lower() if len(words) == 3 else None
        if name is not None and any(stage.name == name for stage in built):
            raise DockerfileError(f"duplicate name {name}")
        built.append(Stage(index, name, words[0], (opening, *rest)))
    return Dockerfile(tuple(meta), tuple(built), escape)


def _split(line: str) -> tuple[str, tuple[str, ...], str]:
    """Keyword, leading ``--flag=value`` words and the rest, as buildkit's splitCommand."""
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    keyword = parts[0].upper()
    rest = parts[1] if len(parts) == 2 else ""
    flags: list[str] = []
    while rest.startswith("--"):
        word, _, remainder = rest.partition(" ")
        if word == "--":
            rest = remainder.lstrip()
            break
        flags.append(word)
        rest = remainder.lstrip()
    return keyword, tuple(flags), rest


def _arg_pairs(args: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for word in args.split():
        name, equals, value = word.partition("=")
        pairs.append((name, _unquote(value) if equals else None))
    return pairs


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-+])?(?P<word>[^}]*)\}"
                       r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")  # fmt: skip


def expand(word: str, values: Mapping[str, str], escape: str = "\\") -> str:
    """``$NAME``, ``${NAME}``, ``${NAME:-default}``, ``${NAME:+alternative}`` (and the forms
    without ``:``) as the builder's shell lexer expands them; the escape character keeps a
    ``$`` literal."""
    out: list[str] = []
    position = 0
    while position < len(word):
        char = word[position]
        if char == escape and position + 1 < len(word):
            out.append(word[position + 1])
            position += 2
            continue
        if char in "\"'":
            position += 1  # quotes group words; an image name keeps what is inside
            continue
        match = _VARIABLE.match(word, position) if char == "$" else None
        if match is None:
            out.append(char)
            position += 1
            continue
        out.append(_substituted(match, values, escape))
        position = match.end()
    return "".join(out)


def _substituted(match: re.Match[str], values: Mapping[str, str], escape: str) -> str:
    """What one ``$NAME`` or ``${NAME<op>word}`` stands for."""
    name = match.group("braced") or match.group("plain")
    operator, alternative = match.group("op"), match.group("word") or ""
    if match.group("braced") and operator is None and alternative:
        raise DockerfileError(f"unsupported modifier in ${{{name}{alternative}}}")
    value = values.get(name)
    if operator in (":-", "-"):
        unset = value is None or (operator == ":-" and value == "")
        return expand(alternative, values, escape) if unset else str(value)
    if operator in (":+", "+"):
        isset = value is not None and (operator == "+" or value != "")
        return expand(alternative, values, escape) if isset else ""
    return value or ""


def parse_instructions(source: str) -> list[Instruction]:
    """Every step of a Dockerfile, numbered like the legacy builder's ``Step k/N``."""
    return list(parse_dockerfile(source).steps())


def replace_from(
    source: str, image: str, build_args: Mapping[str, str | None] | None = None
) -> str:
    """Point every FROM that names an external image at ``image``, keeping every other byte.

    Each cell builds on a base image of its own so no cell can hit another cell's cache.
    """
    parsed = parse_dockerfile(source)
    externals = external_stages(parsed, build_args or {})
    return rewrite_bases(source, {stage.index: image for stage in externals})


def external_stages(dockerfile: Dockerfile, build_args: Mapping[str, str | None]) -> list[Stage]:
    """The stages whose FROM names an image (not ``scratch``, not an earlier stage)."""
    return [
        stage
        for stage in dockerfile.stages
        if _starts_from(dockerfile, stage, build_args) == "image"
    ]


def scratch_stages(dockerfile: Dockerfile, build_args: Mapping[str, str | None]) -> list[Stage]:
    """The stages whose FROM is ``scratch`` itself (a stage FROM such a stage is not one)."""
    return [
        stage
        for stage in dockerfile.stages
        if _starts_from(dockerfile, stage, build_args) == "scratch"
    ]


def _starts_from(
    dockerfile: Dockerfile, stage: Stage, build_args: Mapping[str, str | None]
) -> Literal["scratch", "stage", "image"]:
    """What a stage's FROM names once build args are expanded: ``scratch``, an earlier
    ``stage``, else an ``image``."""
    base = dockerfile.base_of(stage, build_args)
    earlier = dockerfile.stage_named(base)
    if base.lower() == "scratch":  # no image: moby's api.NoBaseImageSpecifier
        return "scratch"
    return "stage" if earlier is not None and earlier.index < stage.index else "image"


def check_bases(
    source: str, target: str | None, build_args: Mapping[str, str | None] | None = None
) -> None:
    """Refuse what the builder refuses before it builds: DockerfileError for a Dockerfile it
    cannot parse, an unknown ``target``, a base name blank once build args are expanded."""
    parsed = parse_dockerfile(source)
    for stage in parsed.built_stages(target):
        parsed.base_of(stage, build_args or {})


def copied_images(dockerfile: Dockerfile, target: str | None = None) -> tuple[str, ...]:
    """The images a built stage's ``COPY --from`` names, once each: a ``--from`` that is not
    an earlier stage's name or index names an image, which the builder takes from the engine
    (or pulls), as moby's ``getImageMount`` does."""
    found: dict[str, None] = {}
    for stage in dockerfile.built_stages(target):
        for instruction in stage.instructions:
            source = _copy_source(instruction)
            earlier = dockerfile.stage_named(source) if source else None
            if source and (earlier is None or earlier.index >= stage.index):
                found[source] = None
    return tuple(found)


def rewrite_copy_from(source: str, images: Mapping[str, str]) -> str:
    """Point each ``COPY --from=<image>`` naming a key of ``images`` at its value, every other
    byte kept (a stage named like an image keeps its reference: see :func:`copied_images`)."""
    lines = source.split("\n")
    parsed = parse_dockerfile(source)
    for stage in parsed.stages:
        for instruction in stage.instructions:
            image = _copy_source(instruction)
            if image is None or image not in images:
                continue
            earlier = parsed.stage_named(image)
            if earlier is not None and earlier.index < stage.index:
                continue
            first, last = instruction.lines
            flag = re.compile(r"--from=" + re.escape(image) + r"(?=\s)", re.IGNORECASE)
            for number in range(first, last + 1):
                lines[number], done = flag.subn(f"--from={images[image]}", lines[number], 1)
                if done:
                    break
    return "\n".join(lines)


def _copy_source(instruction: Instruction) -> str | None:
    """What a ``COPY --from=`` names (None: a plain COPY, or another instruction)."""
    if instruction.keyword != "COPY":
        return None
    for flag in instruction.flags:
        name, _, value = flag.partition("=")
        if name.lower() == "--from" and value:
            return value
    return None


def rewrite_bases(source: str, images: Mapping[int, str]) -> str:
    """Replace the FROM instruction of each stage in ``images`` (by index) with
    ``FROM <image>`` (its ``AS name`` kept), every other line byte for byte."""
    parsed = parse_dockerfile(source)
    lines = source.split("\n")
    for stage in reversed(parsed.stages):
        if stage.index not in images:
            continue
        first, last = stage.instructions[0].lines
        words = stage.instructions[0].args.split()
        alias = f" {words[1]} {words[2]}" if len(words) == 3 else ""
        ending = "\r" if lines[last].endswith("\r") else ""
        lines[first : last + 1] = [f"FROM {images[stage.index]}{alias}{ending}"]
    return "\n".join(lines)


def from_image(source: str) -> str:
    """The image the first FROM names (as written)."""
    return parse_dockerfile(source).stages[0].base


def with_chown(source: str, owner: str) -> str:
    """Every ADD and COPY of the build context without a ``--chown`` gets ``--chown=OWNER``,
    every other byte kept: a remedy's trial, to learn whether the owner it sets changes the
    cache key. A ``COPY --from`` is left as written: it copies files of a stage or an image,
    whose owners the context's never reach, and an owner there would change the image."""
    lines = source.split("\n")
    for instruction in parse_dockerfile(source).steps():
        if not _takes_chown(instruction.keyword, instruction.flags):
            continue
        first = instruction.lines[0]
        line = lines[first]
        start = len(line) - len(line.lstrip())
        end = start + len(instruction.keyword)
        lines[first] = f"{line[:end]} --chown={owner}{line[end:]}"
    return "\n".join(lines)


def takes_chown(text: str) -> bool:
    """Whether ``with_chown`` gives this instruction (as ``Step k/N :`` prints it) an owner:
    an ADD or COPY of the build context that sets none of its own."""
    keyword, flags, _ = _split(text)
    return _takes_chown(keyword, flags)


def _takes_chown(keyword: str, flags: tuple[str, ...]) -> bool:
    names = {flag.partition("=")[0].lower() for flag in flags}
    return keyword in ("ADD", "COPY") and not names & {"--chown", "--from"}
