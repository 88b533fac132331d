"""The pairing gate's rules on hand-made linking facts (test_pairing.py compiles real ones)."""

from __future__ import annotations

import pytest

from mlc_ci.plan import pairing


def so(path, soname="", needed=(), undefined=(), exported=()):
    """A shared object's linking facts."""
    return pairing.SharedObject(
        path,
        soname or path.rsplit("/", 1)[-1],
        tuple(needed),
        frozenset(undefined),
        frozenset(exported),
    )


LIBC = so("/lib/libc.so.6", exported={"malloc", "free"})


def facts(package, pair=(), grafted=(), excluded=()):
    """The gate's input: a pair providing libtiny*.so, glibc as the system."""
    return pairing.Facts(
        package=package,
        grafted=grafted,
        pair=pair,
        system={"libc.so.6": LIBC, "libm.so.6": None},
        allowed_system=frozenset({"libc.so.6", "libm.so.6"}),
        pair_libraries=("libtiny*.so",),
        excluded=excluded,
        pair_label="tiny 1.0",
    )


def test_each_needed_library_gets_its_kind_and_the_row_counts_imports():
    tiny = so("tiny/libtiny.so", exported={"tiny_run"})
    helper = so("pkg/libhelper.so", soname="libhelper.so.1", exported={"help"})
    grafted = so("pkg.libs/libz-1a2b.so.1", soname="libz.so.1", exported={"deflate"})
    main = so(
        "pkg/libmain.so",
        needed=("libhelper.so.1", "libtiny.so", "libc.so.6", "libz.so.1"),
        undefined={"help", "tiny_run", "malloc", "deflate"},
    )
    problems, rows = pairing.check(facts([main, helper], [tiny], [grafted]))
    assert not problems
    assert rows[0] == {
        "library": "libmain.so",
        "needs": {
            "libhelper.so.1": "wheel",
            "libtiny.so": "pair",
            "libc.so.6": "system",
            "libz.so.1": "wheel",
        },
        "imports": 4,
        "unresolved": [],
    }
    assert rows[1] == {"library": "libhelper.so", "needs": {}, "imports": 0, "unresolved": []}


def test_a_library_the_pair_should_provide_but_lacks_is_named():
    main = so("pkg/libmain.so", needed=("libtiny_extra.so",), undefined={"x"})
    problems, rows = pairing.check(facts([main]))
    assert problems == ["libmain.so needs libtiny_extra.so, which tiny 1.0 does not provide"]
    assert rows[0]["needs"] == {"libtiny_extra.so": "missing from the pair"}
    assert rows[0]["unresolved"] is None  # its provider cannot be read: no symbol check


def test_an_excluded_library_is_not_checked_and_an_unknown_one_is_a_problem():
    main = so("pkg/libmain.so", needed=("libcudart.so.13", "libstray.so"), undefined={"x"})
    problems, rows = pairing.check(facts([main], excluded=("libcudart.so*",)))
    assert problems == [
        "libmain.so needs libstray.so, which is neither in the wheel, nor a manylinux system "
        "library, nor provided by tiny 1.0"
    ]
    assert rows[0]["needs"] == {"libcudart.so.13": "excluded", "libstray.so": "unknown"}
    assert rows[0]["unresolved"] is None
    excluded_only = so("pkg/liba.so", needed=("libcudart.so.13",), undefined={"cudaMalloc"})
    problems, rows = pairing.check(facts([excluded_only], excluded=("libcudart.so*",)))
    assert not problems and rows[0]["unresolved"] is None


def test_a_missing_symbol_names_the_pair_when_the_library_needs_one():
    tiny = so("tiny/libtiny.so", exported={"a"})
    main = so(
        "pkg/libmain.so", needed=("libc.so.6", "libtiny.so"), undefined={"a", "d", "b", "c", "e"}
    )
    problems, rows = pairing.check(facts([main], [tiny]))
    assert problems == [
        "libmain.so needs b, c, d and 1 more from libtiny.so, which tiny 1.0 does not export"
    ]
    assert rows[0]["unresolved"] == ["b", "c", "d", "e"]
    three = so("pkg/libmain.so", needed=("libtiny.so",), undefined={"a", "b", "c", "d"})
    assert pairing.check(facts([three], [tiny]))[0] == [
        "libmain.so needs b, c, d from libtiny.so, which tiny 1.0 does not export"
    ]


def test_a_missing_symbol_without_the_pair_names_every_library_searched():
    main = so("pkg/libmain.so", needed=("libc.so.6", "libm.so.6"), undefined={"malloc", "sqrt"})
    problems, _ = pairing.check(facts([main]))
    assert problems == [
        "libmain.so needs sqrt, which none of its libraries (libc.so.6, libm.so.6) export"
    ]


def test_exports_are_followed_through_needed_libraries_and_cycles_end():
    inner = so("tiny/libtiny_core.so", needed=("libtiny.so",), exported={"core"})
    tiny = so("tiny/libtiny.so", needed=("libtiny_core.so",), exported={"run"})
    main = so("pkg/libmain.so", needed=("libtiny.so",), undefined={"core", "run"})
    assert not pairing.check(facts([main], [tiny, inner]))[0]


def test_a_library_is_found_by_its_file_name_too():
    tiny = so("tiny/libtiny.so.1.0", soname="libtiny.so.1", exported={"run"})
    main = so("pkg/libmain.so", needed=("libtiny.so.1.0",), undefined={"run"})
    problems, rows = pairing.check(facts([main], [tiny]))
    assert not problems and rows[0]["needs"] == {"libtiny.so.1.0": "pair"}
    assert so("C:\\w\\pkg\\main.dll").name == "main.dll"


@pytest.mark.parametrize(
    ("requires", "version", "problem"),
    [
        (["not a requirement ((", "tiny-runtime===0.1.0"], "0.1.0", ""),
        (["other==1", "tiny_runtime==0.2"], "0.2", ""),
        (
            ["tiny-runtime==0.1.*"],
            "",
            "w.whl requires tiny-runtime==0.1.*, not one exact version; pin the runtime it was "
            "built against (tiny-runtime==<version>)",
        ),
        (
            [" tiny-runtime==0.1.0,<1 "],
            "",
            "w.whl requires tiny-runtime==0.1.0,<1, not one exact version; pin the runtime it "
            "was built against (tiny-runtime==<version>)",
        ),
        (
            [],
            "",
            "w.whl declares no Requires-Dist on tiny-runtime; add `tiny-runtime==<version>` to "
            "its [project].dependencies, or set [pair].version",
        ),
    ],
)
def test_the_required_version_and_its_problems_are_exact(requires, version, problem):
    assert pairing.required_version(requires, "w.whl", "tiny-runtime") == (version, problem)
