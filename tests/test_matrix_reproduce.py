"""The matrix report's reproduce line names a user's project and service: without them the
line would rebuild the fixtures, not the project the tables are about."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli.matrix import write_tables
from harness.core.config import parse_config
from tests.factories import cell_result


def test_the_reproduce_line_names_the_project_and_service(tmp_path: Path) -> None:
    config = parse_config('[matrix]\ncompose = ["1.20.0"]\n')
    write_tables(tmp_path, [cell_result("1.20.0", "shared")], config, None, ("../app", "web"))
    reproduce = json.loads((tmp_path / "matrix.json").read_text())["reproduce"]
    assert reproduce.endswith("-- --project ../app --service web")
    write_tables(tmp_path, [cell_result("1.20.0", "shared")], config)
    assert "--project" not in json.loads((tmp_path / "matrix.json").read_text())["reproduce"]


def test_a_matrix_file_typed_as_an_absolute_path_is_published_by_its_name(tmp_path: Path) -> None:
    config = parse_config('[matrix]\ncompose = ["1.20.0"]\n', "/home/someone/work/m.toml")
    write_tables(tmp_path, [cell_result("1.20.0", "shared")], config, None, ("app", "web"))
    document = json.loads((tmp_path / "matrix.json").read_text())
    assert document["config"] == "m.toml"
    assert document["reproduce"] == "nox -s matrix -- --config m.toml --project app --service web"
