"""Image tags and OCI labels, rule by rule, against docker/metadata-action's semantics."""

from __future__ import annotations

import pytest

from mlc_ci.errors import PipelineError
from mlc_ci.plan import docker_meta
from mlc_ci.plan.docker_meta import TagError, compute_labels, compute_tags

pytestmark = pytest.mark.unit

IMAGE = "ghcr.io/mlc-ai/mlc-llm"
SHA = "0123456789abcdef0123456789abcdef01234567"
SHA_TAG = "sha-0123456"


@pytest.mark.parametrize(
    ("case", "kwargs", "tags"),
    [
        # Branch pushes: the sanitised branch; `latest` only on the default branch.
        ("default branch", {"ref": "refs/heads/main"}, ["main", "latest", SHA_TAG]),
        ("feature branch", {"ref": "refs/heads/feature/x"}, ["feature-x", SHA_TAG]),
        (
            "other default branch",
            {"ref": "refs/heads/develop", "default_branch": "develop"},
            ["develop", "latest", SHA_TAG],
        ),
        (
            "main is not default",
            {"ref": "refs/heads/main", "default_branch": "develop"},
            ["main", SHA_TAG],
        ),
        (
            "branch characters",
            {"ref": "refs/heads/Dependabot/pip/Foo+Bar@1.2"},
            ["Dependabot-pip-Foo-Bar-1.2", SHA_TAG],
        ),
        (
            "manual run on a branch",
            {"ref": "refs/heads/main", "event": "workflow_dispatch"},
            ["main", "latest", SHA_TAG],
        ),
        # Release tags: full, major.minor, major (not 0), latest.
        ("release", {"ref": "refs/tags/v1.2.3"}, ["1.2.3", "1.2", "1", "latest", SHA_TAG]),
        ("release without v", {"ref": "refs/tags/1.2.3"}, ["1.2.3", "1.2", "1", "latest", SHA_TAG]),
        (
            "release 0.x has no major",
            {"ref": "refs/tags/v0.20.1"},
            ["0.20.1", "0.20", "latest", SHA_TAG],
        ),
        ("two-part release", {"ref": "refs/tags/v1.2"}, ["1.2.0", "1.2", "1", "latest", SHA_TAG]),
        (
            "release event",
            {"ref": "refs/tags/v2.0.0", "event": "release"},
            ["2.0.0", "2.0", "2", "latest", SHA_TAG],
        ),
        (
            "post release moves the floating tags",
            {"ref": "refs/tags/v1.2.3.post1"},
            ["1.2.3.post1", "1.2", "1", "latest", SHA_TAG],
        ),
        # Prereleases: the full version only, spelled as SemVer.
        ("semver rc", {"ref": "refs/tags/v1.2.0-rc.1"}, ["1.2.0-rc.1", SHA_TAG]),
        ("pep440 rc", {"ref": "refs/tags/v1.2.0rc1"}, ["1.2.0-rc.1", SHA_TAG]),
        ("pep440 alpha", {"ref": "refs/tags/v1.0.0a1"}, ["1.0.0-alpha.1", SHA_TAG]),
        ("pep440 beta", {"ref": "refs/tags/v1.0.0b2"}, ["1.0.0-beta.2", SHA_TAG]),
        ("pep440 dev", {"ref": "refs/tags/v0.26.dev0"}, ["0.26.0-dev.0", SHA_TAG]),
        ("pep440 rc dev", {"ref": "refs/tags/v1.2.3rc1.dev2"}, ["1.2.3-rc.1.dev.2", SHA_TAG]),
        ("semver-only prerelease", {"ref": "refs/tags/v1.0.0-beta.x"}, ["1.0.0-beta.x", SHA_TAG]),
        ("semver numeric prerelease", {"ref": "refs/tags/v1.0.0-1"}, ["1.0.0-1", SHA_TAG]),
        (
            "build metadata",
            {"ref": "refs/tags/v1.0.0+cu128"},
            ["1.0.0_cu128", "1.0", "1", "latest", SHA_TAG],
        ),
        # Other tags: the name, sanitised, never latest.
        ("non-version tag", {"ref": "refs/tags/nightly/2024"}, ["nightly-2024", SHA_TAG]),
        ("epoch version is not a release", {"ref": "refs/tags/1!2.0"}, ["1-2.0", SHA_TAG]),
        # Pull requests and schedules.
        (
            "pull request",
            {"event": "pull_request", "ref": "refs/pull/42/merge", "pr_number": 42},
            ["pr-42", SHA_TAG],
        ),
        (
            "pull request from ref",
            {"event": "pull_request", "ref": "refs/pull/7/merge"},
            ["pr-7", SHA_TAG],
        ),
        (
            "pull request target",
            {"event": "pull_request_target", "ref": "refs/heads/main", "pr_number": 9},
            ["pr-9", SHA_TAG],
        ),
        ("schedule", {"event": "schedule", "ref": "refs/heads/main"}, ["nightly", SHA_TAG]),
        (
            "dated schedule",
            {"event": "schedule", "ref": "refs/heads/main", "date": "20240131"},
            ["nightly", "nightly-20240131", SHA_TAG],
        ),
        # Duplicates collapse, first occurrence wins.
        (
            "branch named latest",
            {"ref": "refs/heads/latest", "default_branch": "latest"},
            ["latest", SHA_TAG],
        ),
    ],
)
def test_tags_by_rule(case, kwargs, tags):
    args = {"ref": "refs/heads/main", "sha": SHA, "event": "push", **kwargs}
    assert compute_tags(IMAGE, **args) == [f"{IMAGE}:{tag}" for tag in tags], case


@pytest.mark.parametrize(
    ("variant", "suffix", "tags"),
    [
        (None, "", ["1.2.3", "1.2", "1", "latest", SHA_TAG]),
        ("cpu", "", ["1.2.3-cpu", "1.2-cpu", "1-cpu", "latest-cpu", f"{SHA_TAG}-cpu"]),
        (
            "cu128",
            "-dev",
            [
                "1.2.3-cu128-dev",
                "1.2-cu128-dev",
                "1-cu128-dev",
                "latest-cu128-dev",
                f"{SHA_TAG}-cu128-dev",
            ],
        ),
        (None, "-ci", ["1.2.3-ci", "1.2-ci", "1-ci", "latest-ci", f"{SHA_TAG}-ci"]),
    ],
)
def test_variant_and_suffix_apply_to_every_tag(variant, suffix, tags):
    got = compute_tags(
        IMAGE, ref="refs/tags/v1.2.3", sha=SHA, event="push", variant=variant, suffix=suffix
    )
    assert got == [f"{IMAGE}:{tag}" for tag in tags]


@pytest.mark.parametrize(
    ("image", "sha", "ref"),
    [
        ("127.0.0.1:5000/mlc-ci/mini-llm", "ABCDEF1", "refs/heads/main"),
        ("localhost:5000/a/b__c", "abcdef1", "refs/heads/main"),
        ("mlc-ci/debian", "abcdef1234", "refs/heads/main"),
    ],
)
def test_image_names_and_sha(image, sha, ref):
    got = compute_tags(image, ref=ref, sha=sha, event="push")
    assert got == [f"{image}:main", f"{image}:latest", f"{image}:sha-{sha.lower()[:7]}"]


def test_long_branch_keeps_variant_and_suffix_within_128():
    tags = compute_tags(
        IMAGE, ref="refs/heads/" + "x" * 200, sha=SHA, event="push", variant="cu130", suffix="-dev"
    )
    branch_tag = tags[0].split(":", 2)[-1]
    assert len(branch_tag) == docker_meta.MAX_TAG_LENGTH
    assert branch_tag.endswith("x-cu130-dev")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": "GHCR.io/MLC/Upper"}, "not an image name"),
        ({"image": "ghcr.io/mlc-ai/mlc-llm:latest"}, "not an image name"),
        ({"image": ""}, "not an image name"),
        ({"sha": "abc12"}, "not a commit id"),
        ({"sha": "xyz1234"}, "not a commit id"),
        ({"ref": "main"}, "neither refs/heads"),
        ({"ref": "refs/pull/3/merge"}, "neither refs/heads"),
        ({"event": "pull_request", "ref": "refs/heads/x"}, "needs its number"),
        ({"event": "pull_request", "pr_number": 0}, "not a positive integer"),
        ({"event": "pull_request", "pr_number": True}, "not a positive integer"),
        ({"event": "schedule", "date": "2024-01-31"}, "YYYYMMDD"),
        ({"event": "schedule", "date": "20241341"}, "YYYYMMDD"),
        ({"event": "schedule", "date": "2024131"}, "YYYYMMDD"),
        ({"variant": "cu 128"}, "not a valid image tag"),
        ({"suffix": "!"}, "not a valid image tag"),
        ({"suffix": "-" + "x" * 130}, "no room"),
        ({"ref": "refs/heads/..."}, "no characters"),
    ],
)
def test_tag_errors(kwargs, message):
    args = {"image": IMAGE, "ref": "refs/heads/main", "sha": SHA, "event": "push", **kwargs}
    image = args.pop("image")
    with pytest.raises(TagError, match=message):
        compute_tags(image, **args)


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("feature/x", "feature-x"),
        ("a//b", "a-b"),
        ("-.leading", "leading"),
        ("trailing/", "trailing"),
        ("UPPER_case.1", "UPPER_case.1"),
        ("ü-nicode", "nicode"),
        ("x" * 200, "x" * 128),
    ],
)
def test_sanitize_tag(text, tag):
    assert docker_meta.sanitize_tag(text) == tag
    assert docker_meta.validate_tag(tag) == tag


@pytest.mark.parametrize("text", ["", "///", "-.-"])
def test_sanitize_tag_rejects_empty_results(text):
    with pytest.raises(TagError, match="no characters"):
        docker_meta.sanitize_tag(text)


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("latest", True),
        ("_private", True),
        ("1.2.3-rc.1", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        (".hidden", False),
        ("-dash", False),
        ("a b", False),
        ("a+b", False),
        ("a:b", False),
    ],
)
def test_validate_tag(tag, valid):
    if valid:
        assert docker_meta.validate_tag(tag) == tag
    else:
        with pytest.raises(TagError, match="not a valid image tag"):
            docker_meta.validate_tag(tag)


def test_tag_error_is_a_pipeline_error_and_a_value_error():
    assert issubclass(TagError, PipelineError)
    assert issubclass(TagError, ValueError)
    assert TagError("x").exit_code == 2


LABELS = {
    "title": "mlc-llm",
    "description": " MLC-LLM engine \n",
    "source_url": "https://github.com/mlc-ai/mlc-llm",
    "version": "1.2.3",
    "revision": SHA,
    "licenses": "Apache-2.0",
}


@pytest.mark.parametrize(
    ("created_epoch", "now_epoch", "created"),
    [
        (1706702400, 1, "2024-01-31T12:00:00Z"),  # SOURCE_DATE_EPOCH wins
        (0, 1706702400, "1970-01-01T00:00:00Z"),  # 0 is a timestamp, not "unset"
        (None, 1706702400, "2024-01-31T12:00:00Z"),  # unset: the build time
    ],
)
def test_labels(created_epoch, now_epoch, created):
    labels = compute_labels(**LABELS, created_epoch=created_epoch, now_epoch=now_epoch)
    prefix = "org.opencontainers.image."
    assert labels == {
        prefix + "title": "mlc-llm",
        prefix + "description": "MLC-LLM engine",
        prefix + "source": "https://github.com/mlc-ai/mlc-llm",
        prefix + "url": "https://github.com/mlc-ai/mlc-llm",
        prefix + "version": "1.2.3",
        prefix + "created": created,
        prefix + "revision": SHA,
        prefix + "licenses": "Apache-2.0",
    }


@pytest.mark.parametrize("epoch", [-1, True, 1.5, "1706702400", 10**20])
def test_labels_reject_bad_timestamps(epoch):
    with pytest.raises(TagError):
        compute_labels(**LABELS, created_epoch=epoch, now_epoch=0)


def test_a_detached_untagged_checkout_gets_its_sha_tag_only():
    # `git checkout <sha>` or a CI clone of a commit: no branch, no version, no error.
    assert compute_tags(IMAGE, ref="", sha=SHA, event="push", variant="cpu") == [
        f"{IMAGE}:{SHA_TAG}-cpu"
    ]
    with pytest.raises(TagError, match="needs its number"):
        compute_tags(IMAGE, ref="", sha=SHA, event="pull_request")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"image": "a:b"},
            "'a:b' is not an image name: use [host[:port]/]lowercase/path without a tag.",
        ),
        ({"sha": " ABC12 "}, "'abc12' is not a commit id: use at least 7 hex digits (GITHUB_SHA)."),
        (
            {"ref": "main"},
            "ref 'main' is neither refs/heads/<branch> nor refs/tags/<tag>; pass the full Git "
            "ref (GITHUB_REF).",
        ),
        (
            {"event": "pull_request", "ref": "refs/pull/0/merge"},
            "a pull_request build needs its number: pass pr_number, or a ref like "
            "refs/pull/<N>/merge (got 'refs/pull/0/merge').",
        ),
        (
            {"event": "pull_request", "pr_number": -2},
            "pull request number '-2' is not a positive integer.",
        ),
        (
            {"event": "schedule", "date": "20240230"},
            "date '20240230' is not a calendar date written YYYYMMDD.",
        ),
        (
            {"suffix": "-" + "x" * 128},
            f"variant and suffix '-{'x' * 128}' leave no room for a tag.",
        ),
        (
            {"variant": "a b"},
            "'main-a b' is not a valid image tag: use 1 to 128 characters of [A-Za-z0-9_.-], not "
            "starting with '.' or '-'.",
        ),
        (
            {"ref": "refs/heads/.-"},
            "'.-' has no characters a Docker tag can use ([A-Za-z0-9_.-]).",
        ),
    ],
)
def test_tag_errors_are_exact(kwargs, message):
    args = {"image": IMAGE, "ref": "refs/heads/main", "sha": SHA, "event": "push", **kwargs}
    image = args.pop("image")
    with pytest.raises(TagError) as caught:
        compute_tags(image, **args)
    assert str(caught.value) == message


def test_timestamp_errors_are_exact():
    with pytest.raises(TagError) as caught:
        docker_meta.rfc3339(-1)
    assert str(caught.value) == "'-1' is not a timestamp: use whole seconds since 1970 (>= 0)."
    with pytest.raises(TagError) as caught:
        docker_meta.rfc3339(10**20)
    assert str(caught.value) == f"'{10**20}' is out of range for a timestamp."
    assert docker_meta.rfc3339(0) == "1970-01-01T00:00:00Z"


def test_a_long_branch_is_cut_before_the_variant_without_a_trailing_dash():
    branch = "b" * 121 + "-" + "c" * 20
    tag, _ = compute_tags(IMAGE, ref=f"refs/heads/{branch}", sha=SHA, event="push", variant="cu130")
    assert tag == f"{IMAGE}:{'b' * 121}-cu130"
