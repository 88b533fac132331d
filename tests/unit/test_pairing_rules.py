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


def facts(package, pair=(), grafted=(), excluded=(), installed=(), system=None):
    """The gate's input: a pair providing libtiny*.so, glibc as the system."""
    return pairing.Facts(
        package=package,
        grafted=grafted,
        pair=pair,
        system={"libc.so.6": LIBC, "libm.so.6": None, **(system or {})},
        allowed_system=frozenset({"libc.so.6", "libm.so.6"}),
        pair_libraries=("libtiny*.so",),
        excluded=excluded,
        pair_label="tiny 1.0",
        installed=[pairing.Installed(label, lib) for label, lib in installed],
        wheel_label="pkg 2.0",
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
        "providers": {
            "libhelper.so.1": "pkg 2.0",
            "libtiny.so": "tiny 1.0",
            "libc.so.6": "system",
            "libz.so.1": "pkg 2.0",
        },
        "imports": 4,
        "unresolved": [],
        "unchecked": [],
    }
    assert rows[1]["needs"] == {} and rows[1]["unresolved"] == []


def test_a_library_the_pair_should_provide_but_lacks_is_named():
    main = so("pkg/libmain.so", needed=("libtiny_extra.so",), undefined={"x"})
    problems, rows = pairing.check(facts([main]))
    assert problems == ["libmain.so needs libtiny_extra.so, which tiny 1.0 does not provide"]
    assert rows[0]["needs"] == {"libtiny_extra.so": "missing from the pair"}
    assert rows[0]["unresolved"] == ["x"]  # listed; the missing library is the one problem


def test_an_excluded_library_is_resolved_where_the_host_has_it():
    cudart = so("/cuda/lib64/libcudart.so.13", exported={"cudaMalloc"})
    main = so("pkg/libmain.so", needed=("libcudart.so.13",), undefined={"cudaMalloc", "cudaFoo"})
    problems, rows = pairing.check(
        facts([main], excluded=("libcudart.so*",), system={"libcudart.so.13": cudart})
    )
    assert rows[0]["needs"] == {"libcudart.so.13": "excluded"}
    assert rows[0]["providers"] == {"libcudart.so.13": "system"}
    assert rows[0]["unresolved"] == ["cudaFoo"]
    assert problems and "cudaFoo" in problems[0] and "libcudart.so.13" in problems[0]


def test_an_excluded_library_not_on_this_host_leaves_its_symbols_listed_and_undecided():
    main = so("pkg/libmain.so", needed=("libcuda.so.1", "libc.so.6"), undefined={"cuInit", "free"})
    problems, rows = pairing.check(facts([main], excluded=("libcuda.so*",)))
    assert not problems
    assert rows[0]["needs"]["libcuda.so.1"] == "excluded, not on this host"
    assert rows[0]["unresolved"] == ["cuInit"] and rows[0]["unchecked"] == ["libcuda.so.1"]


def test_an_unknown_library_is_a_problem():
    main = so("pkg/libmain.so", needed=("libstray.so",), undefined={"x"})
    problems, rows = pairing.check(facts([main]))
    assert len(problems) == 1 and "needs libstray.so" in problems[0]
    assert rows[0]["needs"] == {"libstray.so": "unknown"}


def test_an_excluded_library_another_installed_wheel_holds_is_checked_against_it():
    # MLC-LLM's libtvm_ffi.so: excluded from its repair, held by the apache-tvm-ffi wheel.
    ffi = so("tvm_ffi/lib/libtvm_ffi.so", needed=("libc.so.6",), exported={"TVMFFIAny"})
    main = so("pkg/libmain.so", needed=("libtvm_ffi.so",), undefined={"TVMFFIAny", "TVMFFIGone"})
    installed = [("apache_tvm_ffi 0.1.12", ffi)]
    problems, rows = pairing.check(facts([main], excluded=("libtvm_ffi.so",), installed=installed))
    assert rows[0]["needs"] == {"libtvm_ffi.so": "installed"}
    assert rows[0]["providers"] == {"libtvm_ffi.so": "apache_tvm_ffi 0.1.12"}
    assert rows[0]["unresolved"] == ["TVMFFIGone"]
    assert len(problems) == 1 and "TVMFFIGone" in problems[0] and "libmain.so" in problems[0]
    whole = so("tvm_ffi/lib/libtvm_ffi.so", exported={"TVMFFIAny", "TVMFFIGone"})
    done = pairing.check(
        facts([main], excluded=("libtvm_ffi.so",), installed=[("apache_tvm_ffi 0.1.12", whole)])
    )
    assert not done[0] and not done[1][0]["unresolved"]


def test_a_runtime_two_wheels_hold_is_named_with_both():
    tiny = so("tiny/libtiny.so", exported={"run"})
    copy = so("other/libs/libtiny.so", exported={"run"})
    main = so("pkg/libmain.so", needed=("libtiny.so",), undefined={"run"})
    problems, _ = pairing.check(facts([main], [tiny], installed=[("other 3.1", copy)]))
    assert len(problems) == 1
    assert "libtiny.so is installed twice" in problems[0]
    assert "other 3.1" in problems[0] and "tiny 1.0" in problems[0]
    # The wheel packing the pair's library itself is the same crash.
    packed = so("pkg/lib/libtiny.so", exported={"run"})
    problems, _ = pairing.check(facts([main, packed], [tiny]))
    assert any("pkg 2.0" in p and "tiny 1.0" in p for p in problems)
    # Two copies inside one wheel are that wheel's affair, not two runtimes.
    twin = so("pkg/lib/libmain.so", soname="libmain.so", needed=("libtiny.so",))
    assert not pairing.check(facts([main, twin], [tiny]))[0]


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
