"""The wheel index as data: merge rules, pages as pip reads them, health rules, selection."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import index as idx

SHA = "a" * 64
META = "b" * 64
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def entry(version: str, channel: str = "", variant: str = "cpu", **changes) -> idx.Entry:
    """An entry of mini-llm-<variant> at `version` (Linux wheel)."""
    name = f"mini_llm_{variant}-{version}-py3-none-manylinux_2_28_x86_64.whl"
    base = idx.Entry(
        filename=name,
        project=f"mini-llm-{variant}",
        version=version,
        channel=channel or idx.channel_of(version),
        variants=(variant,),
        sha256=SHA,
        metadata_sha256=META,
        requires_python=">=3.10",
        url=f"files/{name}",
        published="2026-12-02T11:00:00Z",
    )
    return dataclasses.replace(base, **changes)


def test_channels_follow_the_version():
    assert idx.channel_of("0.2.0.dev3") == "nightly"
    assert idx.channel_of("0.2.0") == "stable" and idx.channel_of("0.2.0rc1") == "stable"


def test_a_rerun_of_the_same_files_changes_nothing():
    state = idx.merge([], [entry("0.1.0.dev1")])
    assert idx.merge(state, [entry("0.1.0.dev1")]) == state


def test_a_published_file_never_changes():
    state = idx.merge([], [entry("0.1.0.dev1")])
    with pytest.raises(PipelineError, match="already in the index with another sha256"):
        idx.merge(state, [entry("0.1.0.dev1", sha256="c" * 64)])


def test_a_nightly_must_sort_above_every_earlier_version():
    state = idx.merge([], [entry("0.1.0.dev5"), entry("0.1.0")])
    with pytest.raises(PipelineError, match=r"does not sort above 0\.1\.0, already published"):
        idx.merge(state, [entry("0.1.0.dev6")])  # below the release: pip --pre would skip it
    assert len(idx.merge(state, [entry("0.1.1.dev1")])) == 3


def test_the_projects_files_go_on_their_versions_channel_but_the_pair_on_any():
    with pytest.raises(PipelineError, match="belongs on the stable channel, not nightly"):
        idx.merge([], [entry("0.1.0", channel="nightly")])
    pair = entry(
        "0.1.0",
        channel="nightly",
        project="tiny-runtime",
        filename="tiny_runtime-0.1.0-py3-none-any.whl",
    )
    state = idx.merge([], [pair], paired=["tiny_runtime"])
    # Published again beside another variant: one entry, both variants.
    again = idx.merge(state, [dataclasses.replace(pair, variants=("cu130",))], ["tiny-runtime"])
    assert [e.variants for e in again] == [("cpu", "cu130")]


def test_state_round_trips_and_bad_state_is_one_line():
    state = [entry("0.1.0.dev1"), entry("0.1.0")]
    data = idx.render_state(state)
    assert idx.parse_state(data, "x") == sorted(state, key=lambda e: e.channel)
    with pytest.raises(PipelineError, match="is not an mlc-ci index state"):
        idx.parse_state({"schema": 2}, "x")
    with pytest.raises(PipelineError, match="entry 0 is malformed"):
        idx.parse_state({"schema": 1, "files": [{"filename": 3}]}, "x")


def test_pages_carry_hashes_metadata_requires_python_and_yanks():
    state = idx.yank([entry("0.1.0"), entry("0.2.0")], "Mini_LLM.cpu", "0.1.0", "broken ABI")
    pages = idx.pages(state)
    assert sorted(pages) == [
        "index.html",
        "stable/cpu/simple/index.html",
        "stable/cpu/simple/mini-llm-cpu/index.html",
    ]
    links = idx.parse_page(pages["stable/cpu/simple/mini-llm-cpu/index.html"])
    assert [link.text for link in links] == [e.filename for e in state]
    first, second = links[0], links[1]
    assert first.href == f"../../../../files/{state[0].filename}"
    assert (first.sha256, first.metadata_sha256, first.requires_python) == (SHA, META, ">=3.10")
    assert first.yanked == "broken ABI" and second.yanked is None
    assert not idx.link_problems(first, "p")
    assert 'href="mini-llm-cpu/"' in pages["stable/cpu/simple/index.html"]


def test_absolute_file_urls_are_linked_as_they_are():
    remote = entry("0.1.0", url="https://example.invalid/dl/v0.1.0/x.whl")
    links = idx.parse_page(idx.project_page("mini-llm-cpu", [remote]))
    assert len(links) == 1 and links[0].href == "https://example.invalid/dl/v0.1.0/x.whl"


def test_a_link_without_hashes_is_a_problem():
    link = idx.parse_page('<a href="x.whl">x.whl</a>')[0]
    assert [p.split(": ", 1)[1] for p in idx.link_problems(link, "page")] == [
        "the link to x.whl has no #sha256= fragment",
        "the link to x.whl has no core-metadata hash",
    ]


def test_yanking_a_version_that_is_not_there_is_refused():
    with pytest.raises(PipelineError, match="the index has no mini-llm-cpu 9.9"):
        idx.yank([entry("0.1.0")], "mini-llm-cpu", "9.9", "x")


def test_a_stale_nightly_is_named_per_variant():
    old = entry("0.1.0.dev1", published="2026-11-25T12:00:00Z")
    fresh = entry("0.1.0.dev1", variant="cu130", published="2026-12-02T10:00:00Z")
    problems = idx.stale([old, fresh, entry("0.0.9")], NOW, 3)
    assert len(problems) == 1 and problems[0].startswith(
        "the newest cpu nightly is 7.0 days old (limit 3)"
    )
    assert not idx.stale([fresh], NOW + timedelta(days=2), 3)
    with pytest.raises(PipelineError, match="malformed publish time"):
        idx.stale([entry("0.1.0.dev1", published="yesterday")], NOW, 3)


def test_gaps_respect_the_platforms_a_variant_builds():
    windows = entry("0.1.0", filename="mini_llm_cpu-0.1.0-py3-none-win_amd64.whl")
    state = [entry("0.1.0"), windows, entry("0.1.0", variant="cu130"), entry("0.2.0")]
    expected = {"linux": ["cpu", "cu130"], "windows": ["cpu"]}  # cu130: windows = false
    assert idx.gaps(state, expected) == ["stable 0.2.0 has linux wheels for cpu but none for cu130"]
    yanked = entry("0.2.0", yanked="bad")
    assert not idx.gaps([entry("0.1.0"), entry("0.1.0", variant="cu130"), yanked], expected)


def test_the_resolvers_must_pick_the_newest_unyanked_build():
    state = [entry("0.1.0.dev1"), entry("0.1.0.dev2"), entry("0.1.0.dev3", yanked="x")]
    expected = idx.expected_resolution(state, "cpu", "nightly", ["mini-llm-cpu"])
    assert expected == {"mini-llm-cpu": "0.1.0.dev2"}
    uv = "Would install 2 packages\n + mini-llm-cpu==0.1.0.dev1\n + tiny-runtime==0.1.0\n"
    got = idx.parse_uv_resolution(uv)
    assert got == {"mini-llm-cpu": "0.1.0.dev1", "tiny-runtime": "0.1.0"}
    assert idx.resolution_problem("uv", "U", expected, got) == (
        "uv resolved mini-llm-cpu 0.1.0.dev1 (expected 0.1.0.dev2) from U"
    )
    pip = {"install": [{"metadata": {"name": "Mini_LLM-cpu", "version": "0.1.0.dev2"}}]}
    assert idx.resolution_problem("pip", "U", expected, idx.parse_resolution(pip)) is None
    assert "nothing (expected" in idx.resolution_problem("pip", "U", expected, {})


TABLE = {"13.0": {"linux": "580.65.06"}, "12.8": {"linux": "570.26", "windows": "570.65"}}
VARIANTS = {"cpu": "", "cu128": "12.8", "cu130": "13.0", "vulkan": ""}


@pytest.mark.parametrize(
    "driver, system, chosen",
    [
        ("580.95.05", "linux", "cu130"),
        ("580.65.06", "linux", "cu130"),
        ("575.51.03", "linux", "cu128"),
        ("570.26", "linux", "cu128"),
        ("565.57.01", "linux", "cpu"),
        ("", "linux", "cpu"),
        ("581.15", "windows", "cu128"),  # no 13.0 Windows row in this table
    ],
)
def test_the_driver_picks_the_newest_cuda_variant_it_meets(driver, system, chosen):
    assert idx.select_variant(VARIANTS, driver, TABLE, system)[0] == chosen


def test_selection_says_why_and_refuses_when_nothing_fits():
    assert (
        idx.select_variant(VARIANTS, "", TABLE, "linux")[1] == "no NVIDIA driver found (nvidia-smi)"
    )
    assert (
        "older than every CUDA variant" in idx.select_variant(VARIANTS, "400.1", TABLE, "linux")[1]
    )
    with pytest.raises(PipelineError, match="no variant fits this host"):
        idx.select_variant({"cu130": "13.0"}, "500.1", TABLE, "linux")


def test_a_rebuilt_nightly_of_the_same_commit_leaves_the_published_one():
    state = idx.merge([], [entry("0.1.0.dev1"), entry("0.1.0")])
    rebuilt = [entry("0.1.0.dev1", sha256="c" * 64), entry("0.1.0.dev1", variant="cu130")]
    kept, left_out = idx.already_nightly(state, rebuilt)
    assert kept == rebuilt[1:] and left_out == [rebuilt[0].filename]
    # A stable file is never left out: a release with another hash is refused by merge.
    assert idx.already_nightly(state, [entry("0.1.0", sha256="c" * 64)])[1] == []


def test_the_wheel_must_pin_the_pair_the_index_serves():
    def report(requires):
        meta = {"name": "mini-llm-cpu", "version": "0.1.0", "requires_dist": requires}
        return {"install": [{"metadata": meta}]}

    good = report(["numpy>=1", "tiny-runtime==0.1.0"])
    assert idx.pin_problem(good, "mini-llm-cpu", "tiny-runtime", "0.1.0") is None
    loose = report(["tiny-runtime>=0.1"])
    assert idx.pin_problem(loose, "mini-llm-cpu", "tiny-runtime", "0.1.0") == (
        "mini-llm-cpu does not require tiny-runtime==0.1.0, the pair the index serves beside it"
    )


def test_a_later_variant_of_a_published_nightly_is_accepted_and_gaps_look_at_the_newest():
    state = idx.merge([], [entry("0.1.0.dev1"), entry("0.1.0.dev2")])
    later = idx.merge(state, [entry("0.1.0.dev2", variant="cu130")])
    assert len(later) == 3  # same version, another variant's file: not "below" anything
    expected = {"linux": ["cpu", "cu130"]}
    assert not idx.gaps(later, expected, own=["mini-llm-cpu", "mini-llm-cu130"])
    with pytest.raises(PipelineError, match="'one.zero' is not a version"):
        idx.yank(later, "mini-llm-cpu", "one.zero", "x")


def test_two_builds_of_one_name_in_one_batch_are_refused():
    with pytest.raises(PipelineError, match="already in the index with another sha256"):
        idx.merge([], [entry("0.1.0"), entry("0.1.0", sha256="c" * 64)])


def test_a_state_entry_with_a_bad_field_is_one_line():
    good = idx.render_state([entry("0.1.0")])
    for key, value in (
        ("version", "one"),
        ("yanked", 3),
        ("filename", "x.whl"),
        ("channel", "beta"),
    ):
        bad = {"schema": 1, "files": [{**good["files"][0], key: value}]}
        with pytest.raises(PipelineError, match="entry 0 is malformed"):
            idx.parse_state(bad, "x")
    missing = {"schema": 1, "files": [{k: v for k, v in good["files"][0].items() if k != "url"}]}
    with pytest.raises(PipelineError, match="entry 0 is malformed"):
        idx.parse_state(missing, "x")


def test_the_default_previous_index_on_github_actions_is_the_repositorys_pages_site():
    from mlc_ci.sessions import index as session  # pylint: disable=import-outside-toplevel

    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "My-Org/mlc-ci"}
    assert session.pages_url(env) == "https://my-org.github.io/mlc-ci"
    assert session.pages_url({"GITHUB_REPOSITORY": "My-Org/mlc-ci"}) == ""  # not in Actions


def test_parse_page_reads_every_attribute_pip_reads():
    page = (
        "<html><body><p>Links for demo</p>\n"
        f'<a href="../../files/demo-1.whl#sha256={"a" * 64}" data-core-metadata="sha256={"b" * 64}"'
        ' data-requires-python="&gt;=3.10">demo-1.whl</a>\n'
        '<a href="demo-2.whl#md5=abc#x" data-dist-info-metadata="sha256=cc" data-yanked="bad">'
        " demo-2.whl </a>\n"
        '<a name="top">no href</a></a><b>not a link</b>\n'
        "</body></html>"
    )
    assert idx.parse_page(page) == [
        idx.Link(
            href="../../files/demo-1.whl",
            text="demo-1.whl",
            sha256="a" * 64,
            metadata_sha256="b" * 64,
            requires_python=">=3.10",
            yanked=None,
        ),
        idx.Link(
            href="demo-2.whl",
            text="demo-2.whl",
            sha256="",
            metadata_sha256="cc",
            requires_python="",
            yanked="bad",
        ),
        idx.Link(
            href="", text="no href", sha256="", metadata_sha256="", requires_python="", yanked=None
        ),
    ]


def test_the_selection_reasons_are_exact():
    assert idx.select_variant(VARIANTS, "575.51.03", TABLE, "linux") == (
        "cu128",
        "driver 575.51.03 meets CUDA 12.8's minimum 570.26",
    )
    assert idx.select_variant(VARIANTS, "400.1", TABLE, "linux") == (
        "cpu",
        "driver 400.1 is older than every CUDA variant's minimum",
    )
    # Without a cpu variant, the first variant without CUDA is the fallback.
    assert idx.select_variant({"cu130": "13.0", "vulkan": ""}, "", TABLE, "linux") == (
        "vulkan",
        "no NVIDIA driver found (nvidia-smi)",
    )
    # A CUDA version the table has no row for never fits.
    assert idx.select_variant({"cpu": "", "cu999": "99.9"}, "999.1", TABLE, "linux")[0] == "cpu"
    with pytest.raises(PipelineError) as caught:
        idx.select_variant({"cu130": "13.0"}, "500.1", TABLE, "linux")
    assert str(caught.value) == (
        "no variant fits this host (no CUDA variant its driver meets, and no CPU variant); "
        "pass --variant."
    )


def test_the_pages_are_exactly_pep_503_html():
    yanked = entry("0.1.0", yanked="a <bad> one")
    plain = entry("0.2.0", requires_python="")
    pages = idx.pages([yanked, plain])
    name1, name2 = yanked.filename, plain.filename
    meta = f'data-dist-info-metadata="sha256={META}" data-core-metadata="sha256={META}"'
    head = '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">\n'
    assert pages["stable/cpu/simple/mini-llm-cpu/index.html"] == (
        f"{head}<title>Links for mini-llm-cpu</title></head>\n"
        "<body><h1>Links for mini-llm-cpu</h1>\n"
        f'<a href="../../../../files/{name1}#sha256={SHA}" {meta} '
        f'data-requires-python="&gt;=3.10" data-yanked="a &lt;bad&gt; one">{name1}</a><br>\n'
        f'<a href="../../../../files/{name2}#sha256={SHA}" {meta}>{name2}</a><br>\n'
        "</body></html>\n"
    )
    assert pages["stable/cpu/simple/index.html"] == (
        f"{head}<title>Simple index</title></head>\n<body><h1>Simple index</h1>\n"
        '<a href="mini-llm-cpu/">mini-llm-cpu</a><br>\n</body></html>\n'
    )
    assert pages["index.html"] == (
        f"{head}<title>mlc-ci wheel index</title></head>\n<body><h1>mlc-ci wheel index</h1>\n"
        '<a href="stable/cpu/simple/">stable/cpu</a><br>\n</body></html>\n'
    )
