"""Three-way merges of one file by `git merge-file`; the tests for binary content and markers."""

from __future__ import annotations

from mlprod_cli.updating.merge import Merged, has_conflict_markers, is_binary, merge

LABELS = ("yours", "template 0.1.0", "template 0.2.0")
BASE = b"one\ntwo\nthree\nfour\nfive\n"


def test_changes_to_different_lines_merge_cleanly() -> None:
    ours = b"one (ours)\ntwo\nthree\nfour\nfive\n"
    theirs = b"one\ntwo\nthree\nfour\nfive (theirs)\n"
    assert merge(BASE, ours, theirs, LABELS) == Merged(
        b"one (ours)\ntwo\nthree\nfour\nfive (theirs)\n", 0
    )


def test_changes_to_the_same_line_conflict_with_labelled_markers() -> None:
    ours = b"one\ntwo (ours)\nthree\nfour\nfive\n"
    theirs = b"one\ntwo (theirs)\nthree\nfour\nfive (theirs)\n"
    merged = merge(BASE, ours, theirs, LABELS)
    assert merged == Merged(
        b"one\n<<<<<<< yours\ntwo (ours)\n=======\ntwo (theirs)\n>>>>>>> template 0.2.0\n"
        b"three\nfour\nfive (theirs)\n",
        1,
    )


def test_each_conflict_is_counted() -> None:
    base = b"".join(b"%d\n" % number for number in range(20))
    ours = base.replace(b"\n2\n", b"\n2 ours\n").replace(b"\n17\n", b"\n17 ours\n")
    theirs = base.replace(b"\n2\n", b"\n2 theirs\n").replace(b"\n17\n", b"\n17 theirs\n")
    assert merge(base, ours, theirs, LABELS).conflicts == 2


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    both = b"one\ntwo\nthree (both)\nfour\nfive\n"
    assert merge(BASE, both, both, LABELS) == Merged(both, 0)


def test_binary_is_a_nul_byte_in_the_first_8000_bytes() -> None:
    assert is_binary(b"PK\x03\x04\x00")
    assert not is_binary("naïve text\n".encode())
    assert not is_binary(b"x" * 8000 + b"\x00")


def test_conflict_markers_are_found_at_the_start_of_a_line() -> None:
    assert has_conflict_markers(b"a\n<<<<<<< yours\nb\n")
    assert has_conflict_markers(b">>>>>>> template 0.2.0\n")
    assert not has_conflict_markers(b"a <<<<<<< yours\n=======\n")
    assert not has_conflict_markers(b"<<<<<<<<\n")
