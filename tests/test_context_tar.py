"""A context tar read as the engine reads it: the CLI can send one without its last member's
padding and without the end-of-archive blocks (Go's reader stops where the stream ends)."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.tardiff import as_the_engine_reads, read_entries


def _tar(files: dict[str, bytes]) -> tuple[bytes, int]:
    """A tar of ``files`` and where its last member's data ends (before padding)."""
    out = io.BytesIO()
    end = 0
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            end = out.tell() - (-len(data) % 512)
    return out.getvalue(), end


@given(
    st.dictionaries(
        st.text(alphabet="abcdef", min_size=1, max_size=6),
        st.binary(min_size=1, max_size=1500),
        min_size=1,
        max_size=4,
    )
)
def test_a_tar_cut_after_its_last_members_data_reads_whole(files: dict[str, bytes]) -> None:
    whole, end = _tar(files)
    cut = whole[:end]
    if len(cut) % 512:  # really cut: Python's reader refuses what the engine accepts
        with pytest.raises(tarfile.ReadError), tarfile.open(fileobj=io.BytesIO(cut)) as tar:
            tar.getmembers()
    assert read_entries(cut) == read_entries(whole)
    assert read_entries(as_the_engine_reads(cut)) == read_entries(whole)
    assert read_entries(as_the_engine_reads(whole)) == read_entries(whole)
