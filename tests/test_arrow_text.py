"""arrow_text: looks at Arrow text buffers that must agree with Arrow's own string kernels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from airflow_contacts_provider.arrow_text import arrow_texts, needs_trimming, text_bytes, text_hashes

EDGE_CHARACTERS = [chr(code) for code in range(0x250)] + ["\u00a0", "\u0085", "\u2003", "\u3000", "\ufeff", "é"]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_trimming_is_needed_exactly_where_arrow_trimming_changes_a_text(kind: pa.DataType) -> None:
    for character in EDGE_CHARACTERS:
        for text in (character + "ab", "ab" + character, character, "a" + character + "b"):
            texts = pa.array(["x", text, ""], kind)
            changed = not pc.all(pc.equal(pc.utf8_trim_whitespace(texts), texts)).as_py()
            assert needs_trimming(texts) == changed, repr(text)


def test_trimmed_texts_need_none_and_a_slice_is_judged_on_its_own_rows() -> None:
    texts = pa.array([" padded", "Ana", "o'Brien", "", "x~", "Chloé", "Émile"], pa.large_string())
    assert needs_trimming(texts)
    assert not needs_trimming(texts.slice(1))
    assert needs_trimming(pa.array(["Chloé", "Ana\u00a0"], pa.large_string()))
    assert text_bytes(texts.slice(1, 2)).tobytes() == b"Anao'Brien"


def test_a_pandas_text_column_comes_as_one_arrow_array_without_a_copy() -> None:
    column = pd.concat([pd.Series(["a", "b"], dtype="str"), pd.Series(["c"], dtype="str")], ignore_index=True)
    assert arrow_texts(column).to_pylist() == ["a", "b", "c"]
    single = pd.Series(["a", "b"], dtype="str")
    assert arrow_texts(single).buffers()[2].address == single.array._pa_array.chunk(0).buffers()[2].address
    assert arrow_texts(pd.Series(["a", None], dtype=object)).to_pylist() == ["a", None]


HASHED_TEXTS = [
    "", "a", "a@b.io", "a@b.io\x00", "a@b.iO", "12345678", "123456789", "1234567", "abcdefgh@ijklmnop.qr",
    "ünïcødé@exämple.de", "x" * 254, "x" * 253, "é", "\x00", "\x00\x00",
    *(f"user{i}@example.com" for i in range(20_000)),
]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_text_hashes_tell_every_text_apart_and_agree_wherever_a_text_sits(kind: pa.DataType) -> None:
    texts = pa.array(HASHED_TEXTS, kind)
    hashes = text_hashes(texts)
    assert hashes.dtype == np.uint64
    assert len(np.unique(hashes)) == len(HASHED_TEXTS)
    # The same text hashes alike alone, in a slice of a longer array, and reversed among others.
    for position in (0, 3, 11, 14, 15, len(HASHED_TEXTS) - 1):
        assert text_hashes(pa.array([HASHED_TEXTS[position]], kind))[0] == hashes[position]
    assert (text_hashes(texts.slice(9, 7)) == hashes[9:16]).all()
    assert (text_hashes(pa.array(HASHED_TEXTS[::-1], kind)) == hashes[::-1]).all()


def test_text_hashes_are_the_same_on_every_machine_and_a_null_is_the_empty_text() -> None:
    # Batch fingerprints made of these hashes are stored for a retry of the task to check against.
    assert text_hashes(pa.array(["user1@example.com", "", None])).tolist() == [
        4647837542284766623, 0, 0]
    assert len(text_hashes(pa.array([], pa.string()))) == 0
