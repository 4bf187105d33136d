"""The EMSA/MSA header grammar (pixlspec.io.msa_header)."""

from __future__ import annotations

import pytest

from pixlspec.errors import MSAFormatError
from pixlspec.io.msa import parse_msa_header


# --------------------------------------------------------------------------- header tokenizer
def test_header_tokenizer_grammar():
    lines = ["\ufeff#FORMAT : EMSA/MAS spectral data file\r",
             "#version: TC202v2.0 PIXL",
             "#XPERCHAN    : 10, 10 eV per channel",
             "#OFFSET      : 0,0\teV of first channel",
             "##MINIMUM_EN : 810\tminimum energy",
             "#TITLE : first", "#TITLE : second",
             "##DETECTOR_ID: A ",
             "##BASE_EVENT : 1, 2",
             "",
             "#SPECTRUM",
             "1", "#ENDOFDATA"]
    h = parse_msa_header(lines, "x.msa")
    assert list(h)[:3] == ["FORMAT", "VERSION", "XPERCHAN"]
    assert h.text("format") == "EMSA/MAS spectral data file"
    assert h["TITLE"] == ["first", "second"] and h.lines["TITLE"] == [6, 7]
    assert h.numbers("XPERCHAN", 2) == [10.0, 10.0]
    assert h.numbers("OFFSET", 2) == [0.0, 0.0]
    assert h.number("##MINIMUM_EN") == 810.0
    assert h.tokens("DETECTOR_ID") == ["A"]
    assert h.numbers("BASE_EVENTS", 2) == [1.0, 2.0]         # flight spelling folded in
    assert h.raw_keywords["BASE_EVENTS"] == ["##BASE_EVENT"]
    assert h.spectrum_line == 11 and h.data_index == 11
    assert h.to_dict()["TITLE"] == ["first", "second"]


def test_header_keyword_forms():
    h = parse_msa_header(["#SPECTRUM    :"], None)
    assert h.spectrum_line == 1
    h = parse_msa_header(["#SPECTRUM    : start of spectrum data"], None)
    assert h.spectrum_line == 1
    h = parse_msa_header(["#TIME : 14:55:32", "#COMMENT : #CHECKSUM (see standard)"], None)
    assert h.text("TIME") == "14:55:32" and h.text("COMMENT") == "#CHECKSUM (see standard)"


def test_header_rejects_non_keyword_line():
    with pytest.raises(MSAFormatError) as e:
        parse_msa_header(["#FORMAT : EMSA/MAS spectral data file", "garbage here"], "f.msa")
    assert e.value.where == 2 and "f.msa" in str(e.value)


def test_header_per_detector_count_checked():
    h = parse_msa_header(["#LIVETIME : 14.2"], "f.msa")
    with pytest.raises(MSAFormatError, match="2 numbers"):
        h.numbers("LIVETIME", 2)
