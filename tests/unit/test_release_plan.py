"""Release planning: version agreement, verification, SHA256SUMS, notes, publishing decision."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import notes
from mlc_ci.plan import publish as pub
from mlc_ci.plan import release as rel
from mlc_ci.plan.versions import from_tag

pytestmark = pytest.mark.unit

SHA = "a" * 64
WHEEL = "demo_cpu-0.1.0-py3-none-manylinux_2_31_x86_64.whl"


def wheel(name=WHEEL, sha=SHA, size=2048):
    """A wheel in dist/ as the session sees it."""
    return rel.WheelFile(name, size, sha)


def wheel_report(*names, status="passed", sha=SHA):
    """A wheels-linux report listing `names`."""
    arts = [{"name": n, "sha256": sha, "details": {"kind": "wheel"}} for n in names]
    return {"status": status, "artifacts": arts}


def image_report(version="0.1.0", digest="sha256:" + "b" * 64, status="passed", target=None):
    """A docker-build report with one production image (and a CI image that is not released)."""
    details = {
        "kind": "image",
        "target": target or "production",
        "tags": ["ghcr.io/o/demo:0.1.0-cpu", "ghcr.io/o/demo:sha-abc1234-cpu"],
        "digest": digest,
        "labels": {rel.VERSION_LABEL: version} if version else {},
    }
    ci_image = {"name": "ghcr.io/o/demo:ci", "details": {"kind": "image", "target": "ci"}}
    return {
        "status": status,
        "artifacts": [{"name": details["tags"][0], "details": details}, ci_image],
    }


# -- versions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "name", "label", "ok"),
    [
        ("v0.1.0", WHEEL, "0.1.0", True),
        ("v0.1.0", "demo_cpu-0.1-py3-none-any.whl", "0.1.0", True),  # PEP 440 equal
        ("v0.1.0", "demo_cpu-0.1.1-py3-none-any.whl", "0.1.0", False),
        ("v0.1.0", WHEEL, "0.1.1", False),
        ("v1.2.0-rc.1", "demo_cpu-1.2.0rc1-py3-none-any.whl", "1.2.0-rc.1", True),
        ("v1.2.0-rc.1", "demo_cpu-1.2.0rc1-py3-none-any.whl", "1.2.0rc1", False),  # SemVer
        ("v0.26.dev3", "demo_cpu-0.26.dev3-py3-none-any.whl", "0.26.0-dev.3", True),
        ("v0.1.0", WHEEL, "", False),
    ],
)
def test_versions_must_agree(tag, name, label, ok):
    images, _ = rel.images_from({"docker-build-cpu": image_report(label)})
    problems = rel.version_problems(from_tag(tag), [wheel(name)], images)
    assert (not problems) is ok, problems


def test_disagreement_names_both_versions():
    images, _ = rel.images_from({"docker-build-cpu": image_report("0.0.9")})
    problems = rel.version_problems(from_tag("v0.1.0"), [wheel(WHEEL)], images)
    assert problems == [
        "image ghcr.io/o/demo:0.1.0-cpu is labelled version 0.0.9, the tag says 0.1.0"
    ]


def test_bad_wheel_name_is_one_line():
    with pytest.raises(PipelineError, match="not a valid wheel file name"):
        rel.wheel_version("not-a-wheel.whl")


# -- verification -----------------------------------------------------------------------------


def test_verified_wheel_passes():
    verified = rel.verified_wheels({"wheels-linux-cpu": wheel_report(WHEEL), "other": {}})
    assert not rel.verification_problems([wheel()], verified)


@pytest.mark.parametrize(
    ("reports", "fragment"),
    [
        ({}, "has no verification report"),
        ({"wheels-linux-cpu": wheel_report(WHEEL, status="failed")}, "says 'failed'"),
        ({"wheels-windows-cpu": wheel_report(WHEEL, sha="c" * 64)}, "sha256 differs"),
        ({"unit-3.12": wheel_report(WHEEL)}, "has no verification report"),
    ],
)
def test_unverified_wheel_is_refused(reports, fragment):
    problems = rel.verification_problems([wheel()], rel.verified_wheels(reports))
    assert len(problems) == 1 and fragment in problems[0]


def test_verified_wheel_missing_from_dist_is_refused():
    verified = rel.verified_wheels({"wheels-linux-cu130": wheel_report("demo_cu130-0.1.0.whl")})
    problems = rel.verification_problems([], verified)
    assert len(problems) == 1
    assert "not in dist/" in problems[0] and "wheels-linux-cu130.json" in problems[0]


def test_images_come_from_passed_pushed_production_builds():
    images, problems = rel.images_from({"docker-build-cpu": image_report()})
    assert not problems and len(images) == 1
    assert images[0].pull == f"docker pull ghcr.io/o/demo@sha256:{'b' * 64}"
    _, problems = rel.images_from({"docker-build-cpu": image_report(digest="")})
    assert "no registry digest" in problems[0]
    _, problems = rel.images_from({"docker-build-cpu": image_report(status="failed")})
    assert "status 'failed'" in problems[0]
    assert rel.images_from({"wheels-linux-cpu": image_report()}) == ([], [])


def test_the_release_problems_are_exact():
    (image,), _ = rel.images_from({"docker-build-cpu": image_report()})
    assert image == rel.Image(
        name="ghcr.io/o/demo:0.1.0-cpu",
        tags=("ghcr.io/o/demo:0.1.0-cpu", "ghcr.io/o/demo:sha-abc1234-cpu"),
        digest="sha256:" + "b" * 64,
        version="0.1.0",
        report="docker-build-cpu",
    )
    assert rel.images_from({"docker-build-cpu": image_report(digest="")})[1] == [
        "image ghcr.io/o/demo:0.1.0-cpu has no registry digest (it was not pushed); run "
        "docker-build with --push first"
    ]
    assert rel.images_from({"docker-build-cpu": image_report(status="failed")})[1] == [
        "docker-build-cpu.json has status 'failed', not 'passed'"
    ]
    # A target-less image (an older report) is released; a CI image never is.
    assert len(rel.images_from({"docker-build-cpu": image_report(target="")})[0]) == 1
    bare = {"status": "passed", "artifacts": [{"details": {"kind": "image"}}]}
    (nameless,), problems = rel.images_from({"docker-build": bare})
    assert (nameless.name, nameless.tags, nameless.version) == ("", (), "")
    assert problems == [
        "image  has no registry digest (it was not pushed); run docker-build with --push first"
    ]
    assert rel.images_from({"docker-build-cpu": {"status": "passed", "artifacts": None}}) == (
        [],
        [],
    )
    unlabelled, _ = rel.images_from({"docker-build-cpu": image_report(version="")})
    wrong = "demo_cpu-0.2.0-py3-none-any.whl"
    assert rel.version_problems(from_tag("v0.1.0"), [wheel(wrong)], unlabelled) == [
        "demo_cpu-0.2.0-py3-none-any.whl is version 0.2.0, the tag says 0.1.0",
        "image ghcr.io/o/demo:0.1.0-cpu has no org.opencontainers.image.version label",
    ]
    # A paired runtime ships at its own version, whatever its name's spelling.
    pair = "Tiny.Runtime-0.0.3-py3-none-any.whl"
    assert not rel.version_problems(from_tag("v0.1.0"), [wheel(pair)], [], ["tiny_runtime"])
    assert rel.version_problems(from_tag("v0.1.0"), [wheel(pair)], [])


def test_the_verification_problems_are_exact():
    none = rel.verification_problems([wheel()], {})
    assert none == [
        f"{WHEEL} has no verification report of this project "
        "(reports/wheels-linux-<project>-<variant>.json or wheels-windows-...); build it with "
        "its wheels session"
    ]
    failed = rel.verified_wheels({"wheels-linux-cpu": wheel_report(WHEEL, status="failed")})
    assert rel.verification_problems([wheel()], failed) == [
        f"{WHEEL}: wheels-linux-cpu.json says 'failed'"
    ]
    other = rel.verified_wheels({"wheels-windows-cpu": wheel_report(WHEEL, sha="c" * 64)})
    assert rel.verification_problems([wheel()], other) == [
        f"{WHEEL} in dist/ is not the file wheels-windows-cpu.json verified (sha256 differs); "
        "rebuild it"
    ]
    stale = rel.verified_wheels({"wheels-linux-cu130": wheel_report("x-0.1.0.whl")})
    assert rel.verification_problems([], stale) == [
        "wheels-linux-cu130.json verified x-0.1.0.whl, which is not in dist/; restore it or "
        "remove the stale report"
    ]
    # A failed report of a wheel no longer in dist/ is no problem of this release.
    gone = rel.verified_wheels({"wheels-linux-cpu": wheel_report("x.whl", status="failed")})
    assert not rel.verification_problems([], gone)
    assert not rel.verified_wheels({"wheels-linux-cpu": {"artifacts": [{"name": "a"}]}})
    assert rel.verified_wheels({"wheels-linux-cpu": wheel_report("a.whl")})["a.whl"] == (
        rel.Verified("wheels-linux-cpu", "passed", SHA)
    )
    assert rel.verified_wheels(
        {"wheels-linux-cpu": {"artifacts": [{"name": "b.whl", "details": {"kind": "wheel"}}]}}
    )["b.whl"] == (rel.Verified("wheels-linux-cpu", "", ""))


def test_ownership_names_the_projects_distributions():
    assert not rel.ownership_problems([wheel("Demo.CPU-0.1.0-py3-none-any.whl")], ["demo-cpu"])
    assert rel.ownership_problems([wheel("other-0.1.0-py3-none-any.whl")], ["b", "a"]) == [
        "other-0.1.0-py3-none-any.whl is not a distribution of this project (a, b); remove it "
        "from dist/"
    ]


def test_check_refuses_in_one_line():
    manifest = rel.Manifest("v0.1.0", from_tag("v0.1.0"), [], [])
    with pytest.raises(PipelineError) as err:
        rel.check(manifest, ["a is wrong", "b is wrong"])
    assert str(err.value) == (
        "refusing to release v0.1.0: a is wrong; b is wrong; nothing to release: no wheels in "
        "dist/ and no images in reports/."
    )
    rel.check(rel.Manifest("v0.1.0", from_tag("v0.1.0"), [wheel()], []), [])


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("ghcr.io/o/img:1.2", "ghcr.io/o/img"),
        ("127.0.0.1:5000/img:1.2", "127.0.0.1:5000/img"),
        ("127.0.0.1:5000/img", "127.0.0.1:5000/img"),
        ("img@sha256:abc", "img"),
    ],
)
def test_repository_of(reference, repository):
    assert rel.repository_of(reference) == repository


# -- SHA256SUMS -------------------------------------------------------------------------------


def test_sha256sums_is_what_sha256sum_checks(tmp_path):
    entries = []
    for name, content in (("b.whl", b"bee"), ("a.whl", b"ay")):
        (tmp_path / name).write_bytes(content)
        entries.append((name, hashlib.sha256(content).hexdigest()))
    text = rel.sha256sums(entries)
    assert text.splitlines()[0].endswith("  a.whl")
    (tmp_path / "SHA256SUMS").write_text(text, encoding="utf-8")
    proc = subprocess.run(
        ("sha256sum", "-c", "SHA256SUMS"), cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- commits and notes ------------------------------------------------------------------------

LOG = "".join(
    f"{sha}\x1f{subject}\x1f{body}\x1e\n"
    for sha, subject, body in [
        ("1" * 40, "feat(cli): add the matrix command", ""),
        ("2" * 40, "fix: retry dropped uploads", "Details.\n\nBREAKING CHANGE: new flag"),
        ("3" * 40, "docs: release flow", ""),
        ("4" * 40, "feat!: drop Python 3.9", ""),
        ("5" * 40, "wheels-linux: faster repair", ""),
        ("6" * 40, "Perf(build): ccache everywhere", ""),
        ("7" * 40, "chore(deps): bump", ""),
    ]
)


def test_parse_log_and_group_by_type():
    commits = notes.parse_log(LOG)
    assert len(commits) == 7 and commits[1].body.startswith("Details.")
    groups = notes.group_commits(commits)
    assert list(groups) == ["feat", "fix", "perf", "docs", "chore", "other"]
    assert [c.parts for c in groups["feat"]] == [
        ("feat", "cli", "add the matrix command", False),
        ("feat", "", "drop Python 3.9", True),
    ]
    assert groups["fix"][0].parts[3] is True  # BREAKING CHANGE footer
    assert groups["other"][0].parts == ("other", "", "wheels-linux: faster repair", False)


def test_parse_log_reads_each_field_exactly():
    text = (
        "\n aaa \x1f subject one \x1f\n body line\n\n\x1e"
        "\nbbb\x1fsubject two\x1e"
        "\n  \x1fno sha\x1fbody\x1e"
        "\nccc\x1e"
        "\nddd\x1fsubject four\x1fbody\x1fextra\n"
    )
    assert notes.parse_log(text) == [
        notes.Commit("aaa", "subject one", "body line"),
        notes.Commit("bbb", "subject two", ""),
        notes.Commit("ddd", "subject four", "body"),
    ]


def test_a_breaking_change_footer_may_use_a_hyphen_and_a_bang_marks_one_too():
    assert notes.Commit("a", "fix: x", "BREAKING-CHANGE: y").parts == ("fix", "", "x", True)
    assert notes.Commit("a", "Feat(API)!: x").parts == ("feat", "API", "x", True)
    assert notes.Commit("a", "wip: x", "BREAKING CHANGE: y").parts == ("other", "", "wip: x", True)
    assert notes.Commit("a", "fix: x").parts == ("fix", "", "x", False)


def test_the_log_range_starts_after_the_previous_tag():
    assert notes.log_range("v0.1.0", "v0.2.0") == "v0.1.0..v0.2.0"
    assert notes.log_range(None, "HEAD") == "HEAD"
    assert notes.previous_tag([" v0.1.0 ", "v0.3.0"], "v0.2.0") == "v0.1.0"


def test_parse_log_of_nothing():
    assert not notes.parse_log("")
    assert not notes.group_commits([])


@pytest.mark.parametrize(
    ("tags", "current", "previous"),
    [
        (["v0.1.0", "v0.0.9", "v0.0.10", "nightly"], "v0.1.0", "v0.0.10"),
        (["v0.1.0"], "v0.1.0", None),
        (["v1.0.0-rc.1", "v0.9.0"], "v1.0.0", "v1.0.0-rc.1"),
        (["v1.0.0", "v2.0.0"], "v1.5.0", "v1.0.0"),
        ([], "v1.0.0", None),
    ],
)
def test_previous_tag(tags, current, previous):
    assert notes.previous_tag(tags, current) == previous
    assert notes.log_range(previous, current) == (f"{previous}..{current}" if previous else current)


def test_release_notes_sections_table_and_pulls():
    images, _ = rel.images_from({"docker-build-cpu": image_report("1.0.0-rc.1")})
    manifest = rel.Manifest(
        "v1.0.0-rc.1",
        from_tag("v1.0.0-rc.1"),
        [wheel("demo_cpu-1.0.0rc1-py3-none-any.whl", size=1536)],
        images,
        notes=["Tag v1.0.0-rc.1 is not in git yet: changes up to HEAD."],
    )
    text = notes.release_notes(
        "demo", manifest, notes.parse_log(LOG), "v0.9.0", repo_url="https://github.com/o/r"
    )
    assert text.startswith("# demo 1.0.0rc1\n")
    assert "(prerelease)" in text and "## Changes since v0.9.0" in text
    order = [text.index(f"### {title}") for title in ("Features", "Bug fixes", "Other changes")]
    assert order == sorted(order)
    assert "- **cli:** add the matrix command ([1111111](https://github.com/o/r/commit/" in text
    assert "- **BREAKING** drop Python 3.9" in text
    assert f"| demo_cpu-1.0.0rc1-py3-none-any.whl | 1.5 KiB | `{SHA}` |" in text
    assert f"docker pull ghcr.io/o/demo@sha256:{'b' * 64}" in text
    assert "tagged `0.1.0-cpu`, `sha-abc1234-cpu`" in text
    assert text.endswith("> Tag v1.0.0-rc.1 is not in git yet: changes up to HEAD.\n")


def test_release_notes_without_commits_wheels_or_images():
    manifest = rel.Manifest("v0.1.0", from_tag("v0.1.0"), [], [])
    text = notes.release_notes("demo", manifest, [], None)
    assert "## Changes (first release)" in text and "No commits." in text
    assert "No wheels in this release." in text and "No container images" in text


# -- publishing decision ----------------------------------------------------------------------

BASE = {
    "github_enabled": True,
    "token": "t",
    "repository": "o/r",
    "index_url": "https://upload.pypi.org/legacy/",
}


def test_publishes_everything_when_asked_with_credentials():
    decision = pub.publishing(publish=True, **BASE)
    assert (decision.github, decision.index, decision.not_done, decision.blocker) == (
        True,
        True,
        [],
        "",
    )


def test_no_publish_says_what_is_not_done():
    reason = "no --publish"
    decision = pub.publishing(publish=False, **BASE)
    assert (decision.github, decision.index, decision.blocker, decision.reason) == (
        False,
        False,
        "",
        reason,
    )
    assert decision.not_done == [
        f"not done ({reason}): GitHub release on o/r",
        f"not done ({reason}): wheel upload to https://upload.pypi.org/legacy/",
    ]


def test_publish_without_token_is_a_blocker():
    decision = pub.publishing(publish=True, **{**BASE, "token": "", "repository": ""})
    assert decision.blocker == (
        "--publish was given but GITHUB_TOKEN is not set and GITHUB_REPOSITORY is not "
        "owner/name; nothing was published (the notes and SHA256SUMS are written); set them, or "
        "run without --publish"
    )
    assert (decision.github, decision.index, decision.reason) == (
        False,
        False,
        "credentials missing",
    )
    assert decision.not_done == [
        "not done (credentials missing): GitHub release on $GITHUB_REPOSITORY",
        "not done (credentials missing): wheel upload to https://upload.pypi.org/legacy/",
    ]


def test_index_only_release_needs_no_token():
    decision = pub.publishing(publish=True, **{**BASE, "github_enabled": False, "token": ""})
    assert (decision.github, decision.index, decision.blocker) == (False, True, "")


@pytest.mark.parametrize(
    ("explicit", "env", "tag"),
    [
        ("v1.0.0", {"GITHUB_REF_NAME": "v2.0.0", "GITHUB_REF_TYPE": "tag"}, "v1.0.0"),
        (None, {"GITHUB_REF_NAME": "v2.0.0", "GITHUB_REF_TYPE": "tag"}, "v2.0.0"),
        (None, {"GITHUB_REF": "refs/tags/v3.0.0"}, "v3.0.0"),
    ],
)
def test_tag_from_flag_or_ci(explicit, env, tag):
    assert rel.tag_from_env(explicit, env) == tag


def test_no_tag_is_one_line():
    env = {"GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch", "GITHUB_REF": "refs/heads/main"}
    with pytest.raises(PipelineError, match="no release tag: pass --tag"):
        rel.tag_from_env(None, env)


# -- the package index ------------------------------------------------------------------------


def test_simple_url_of_known_and_other_indexes():
    assert pub.simple_url("https://upload.pypi.org/legacy/") == "https://pypi.org/simple/"
    assert pub.simple_url("https://test.pypi.org/legacy/") == "https://test.pypi.org/simple/"
    assert pub.simple_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/simple/"
    assert pub.supports_skip_existing("https://upload.pypi.org/legacy/")
    assert not pub.supports_skip_existing("http://127.0.0.1:8080/")


def test_index_files_from_a_pep503_page():
    page = (
        "<html><body><h1>Links for demo-cpu</h1>"
        f'<a href="../../packages/{WHEEL}#sha256={SHA.upper()}">{WHEEL}</a><br>'
        '<a href="https://files.example/demo_cpu-0.0.9-py3-none-any.whl" '
        'data-requires-python="&gt;=3.9">old</a>'
        "<a>no href</a><p>text</p></body></html>"
    )
    assert pub.index_files(page) == {WHEEL: SHA, "demo_cpu-0.0.9-py3-none-any.whl": ""}
    assert pub.project_of("Demo_CPU-0.1.0-py3-none-any.whl") == "demo-cpu"


def test_upload_split_skips_what_the_index_has_and_refuses_clashes():
    other = wheel("demo_cu130-0.1.0-py3-none-any.whl")
    upload, present = pub.upload_split([wheel(), other], {WHEEL: SHA})
    assert upload == [other] and present == [f"{WHEEL} is already on the index: not uploaded again"]
    assert not pub.upload_split([wheel()], {WHEEL: ""})[0]
    with pytest.raises(PipelineError, match="already has .* with different content"):
        pub.upload_split([wheel()], {WHEEL: "f" * 64})
    with pytest.raises(PipelineError, match="not a valid wheel file name"):
        pub.project_of("nope.whl")


def test_only_opted_in_distributions_go_to_the_index_under_held_names():
    cuda = "demo_cu130-0.1.0-py3-none-any.whl"
    windows = "demo_cpu-0.1.0-cp312-cp312-win_amd64.whl"
    upload, rest = pub.index_choice([WHEEL, cuda, windows], ["Demo_CPU"], ["demo-cpu"], "URL")
    assert (upload, rest) == ([WHEEL, windows], [cuda])
    assert pub.index_choice([WHEEL, cuda], [], ["demo-cpu"], "URL") == ([], [WHEEL, cuda])
    with pytest.raises(PipelineError, match="demo-cu130 to URL.*pypi_names: demo-cpu"):
        pub.index_choice([WHEEL, cuda], ["demo-cpu", "demo-cu130"], ["demo-cpu"], "URL")
    with pytest.raises(PipelineError, match="pypi_names: none"):
        pub.index_choice([WHEEL], ["demo-cpu"], [], "URL")


def test_release_notes_are_exactly_this_document():
    image = rel.Image(
        "ghcr.io/o/demo:1.0.0",
        ("ghcr.io/o/demo:1.0.0", "ghcr.io/o/demo:latest", "127.0.0.1:5000/o/demo"),
        "sha256:" + "d" * 64,
        "1.0.0",
        "docker-build-cpu",
    )
    bare = rel.Image("ghcr.io/o/tools", (), "sha256:" + "e" * 64, "1.0.0", "docker-build-ci")
    manifest = rel.Manifest(
        "v1.0.0",
        from_tag("v1.0.0"),
        [rel.WheelFile("demo-1.0.0-py3-none-any.whl", 100, "f" * 64)],
        [image, bare],
        notes=["first note", "second note"],
    )
    commits = [
        notes.Commit("a" * 40, "fix(cli): exit 2 on bad input"),
        notes.Commit("b" * 40, "feat: a matrix", "BREAKING CHANGE: new format"),
        notes.Commit("c" * 40, "tidy up"),
    ]
    text = notes.release_notes(
        "demo", manifest, commits, "v0.9.0", extra=[("SHA256SUMS", 2048, "0" * 64)]
    )
    assert text == "\n".join(
        [
            "# demo 1.0.0",
            "",
            "Tag `v1.0.0`: wheels `1.0.0`, images `1.0.0`.",
            "",
            "## Changes since v0.9.0",
            "",
            "### Features",
            "",
            "- **BREAKING** a matrix (bbbbbbb)",
            "",
            "### Bug fixes",
            "",
            "- **cli:** exit 2 on bad input (aaaaaaa)",
            "",
            "### Other changes",
            "",
            "- tidy up (ccccccc)",
            "",
            "## Artifacts",
            "",
            "| name | size | sha256 |",
            "|---|---|---|",
            f"| demo-1.0.0-py3-none-any.whl | 100 B | `{'f' * 64}` |",
            f"| SHA256SUMS | 2.0 KiB | `{'0' * 64}` |",
            "",
            "Check downloads with `sha256sum -c SHA256SUMS`.",
            "",
            "## Container images",
            "",
            "```bash",
            f"docker pull ghcr.io/o/demo@sha256:{'d' * 64}",
            f"docker pull ghcr.io/o/tools@sha256:{'e' * 64}",
            "```",
            "",
            f"- `ghcr.io/o/demo@sha256:{'d' * 64}` tagged `1.0.0`, `latest`",
            f"- `ghcr.io/o/tools@sha256:{'e' * 64}` tagged (no tags)",
            "",
            "> first note",
            "",
            "> second note",
            "",
        ]
    )
    empty = notes.release_notes(
        "demo", rel.Manifest("v0.1.0", from_tag("v0.1.0"), [], []), [], None
    )
    assert empty == "\n".join(
        [
            "# demo 0.1.0",
            "",
            "Tag `v0.1.0`: wheels `0.1.0`, images `0.1.0`.",
            "",
            "## Changes (first release)",
            "",
            "No commits.",
            "",
            "## Artifacts",
            "",
            "No wheels in this release.",
            "",
            "## Container images",
            "",
            "No container images in this release.",
            "",
        ]
    )


def test_the_release_tag_comes_from_the_flag_or_the_pushed_tag():
    assert rel.tag_from_env("v1.0.0", {"GITHUB_REF": "refs/tags/v2.0.0"}) == "v1.0.0"
    pushed = {"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v2.0.0"}
    assert rel.tag_from_env(None, pushed) == "v2.0.0"
    assert rel.tag_from_env("", {"GITHUB_REF": "refs/tags/v3.0.0"}) == "v3.0.0"
    for env in ({}, {"GITHUB_REF": "refs/heads/main"}, {"GITHUB_REF_TYPE": "tag"}):
        with pytest.raises(PipelineError) as caught:
            rel.tag_from_env(None, env)
        assert str(caught.value) == (
            "no release tag: pass --tag vX.Y.Z (or run on a tag push, where GITHUB_REF names it)."
        )
