"""The GitHub client against a local stand-in of GitHub's release API.

GitHub's REST API cannot be reached from build machines, so these tests run the client against
tests/unit/github_standin.py: a real HTTP server on 127.0.0.1 that implements the documented
release endpoints (create, get by tag, update, list/delete/upload assets) with injected
failures. Nothing in mlc_ci is mocked: requests go through urllib and a socket.
"""

from __future__ import annotations

import pytest

from mlc_ci import github
from mlc_ci.errors import PipelineError
from tests.unit.github_standin import StandIn

pytestmark = pytest.mark.unit

TOKEN = "good-token"


@pytest.fixture(name="api")
def fixture_api():
    with StandIn(TOKEN) as server:
        yield server


def client(api, token=TOKEN, retries=3):
    """A client of repository o/r on the stand-in that does not sleep between retries."""
    return github.Client(token, "o/r", api.url, retries=retries, sleep=lambda _s: None, timeout=10)


@pytest.fixture(name="files")
def fixture_files(tmp_path):
    paths = []
    for name, size in (("demo-0.1.0-py3-none-any.whl", 3000), ("SHA256SUMS", 100)):
        path = tmp_path / name
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        paths.append(path)
    return paths


def uploaded(api, release_id):
    """name -> (state, size) of a release's assets; a duplicate name fails the test."""
    assets = api.state.assets_of(release_id)
    names = [a["name"] for a in assets]
    assert len(names) == len(set(names)), names
    return {a["name"]: (a["state"], a["size"]) for a in assets}


def test_publish_creates_release_and_uploads(api, files):
    release = client(api).publish("v0.1.0", "demo 0.1.0", "notes", False, files)
    assert release["tag_name"] == "v0.1.0" and release["prerelease"] is False
    assert release["draft"] is False
    assert uploaded(api, release["id"]) == {
        "demo-0.1.0-py3-none-any.whl": ("uploaded", 3000),
        "SHA256SUMS": ("uploaded", 100),
    }
    # Created as a draft, filled, then published: readers never see it half-made.
    calls = [(m, p) for m, p in api.state.log if m in ("POST", "PATCH")]
    assert calls[0] == ("POST", "/repos/o/r/releases")
    assert calls[-1] == ("PATCH", f"/repos/o/r/releases/{release['id']}")


def test_rerun_updates_and_replaces_never_duplicates(api, files):
    first = client(api).publish("v0.2.0-rc.1", "demo", "old notes", False, files)
    files[0].write_bytes(b"rebuilt")
    second = client(api).publish("v0.2.0-rc.1", "demo", "new notes", True, files)
    assert second["id"] == first["id"]
    assert len(api.releases_named("v0.2.0-rc.1")) == 1
    assert second["body"] == "new notes" and second["prerelease"] is True
    assert uploaded(api, first["id"])["demo-0.1.0-py3-none-any.whl"] == ("uploaded", 7)


def test_a_rerun_uploads_only_what_changed_and_never_leaves_a_name_empty(api, files):
    client(api).publish("v0.3.0", "demo", "notes", False, files)
    files[0].write_bytes(b"rebuilt")
    start = len(api.state.log)
    client(api).publish("v0.3.0", "demo", "notes", False, files)
    calls = [(m, p.split("?")[0].rsplit("/", 1)[-1]) for m, p in api.state.log[start:]]
    changed = [c for c in calls if c[0] in ("POST", "PATCH", "DELETE")]
    # SHA256SUMS has the same digest: untouched. The wheel: the new bytes first, then the
    # old asset goes and the new one takes its name. The release's fields did not change.
    assert [m for m, _ in changed] == ["POST", "DELETE", "PATCH"], changed


def test_a_published_immutable_release_converges_on_a_rerun(files):
    with StandIn(TOKEN, immutable=True) as api:
        release = client(api).publish("v1.0.0", "demo", "notes", False, files)
        assert release["draft"] is False and len(uploaded(api, release["id"])) == 2
        start = len(api.state.log)
        client(api).publish("v1.0.0", "demo", "notes", False, files)  # the same files
        assert all(m == "GET" for m, _ in api.state.log[start:])  # nothing to change
        files[0].write_bytes(b"rebuilt")
        with pytest.raises(PipelineError, match="immutable, so its assets cannot change"):
            client(api).publish("v1.0.0", "demo", "notes", False, files)


def test_a_draft_left_by_an_interrupted_run_is_completed(api, files):
    draft = client(api).ensure_release("v1.4.0", "demo", "", False)
    assert draft["draft"] is True and client(api).release_by_tag("v1.4.0") is None
    release = client(api).publish("v1.4.0", "demo", "", False, files)
    assert release["id"] == draft["id"] and release["draft"] is False
    assert len(api.releases_named("v1.4.0")) == 1


def test_a_server_error_on_upload_is_retried(api, files):
    api.fail("POST", "/uploads/", "500")
    release = client(api).publish("v1.5.0", "demo", "", False, files)
    assert set(uploaded(api, release["id"])) == {f.name for f in files}


def test_bad_token_is_one_clear_line(api, files):
    with pytest.raises(PipelineError) as err:
        client(api, token="expired").publish("v1.0.0", "x", "", False, files)
    message = str(err.value)
    assert "401" in message and "GITHUB_TOKEN" in message and "\n" not in message
    assert "expired" not in message


def test_401_mid_run_stops_with_the_same_message(api, files):
    api.fail("GET", "/assets", "401")
    with pytest.raises(PipelineError, match="GitHub rejected the token"):
        client(api).publish("v1.0.0", "x", "", False, files)


def test_422_already_exists_adopts_the_existing_release(api, files):
    api.fail("POST", "/releases", "422-race")
    release = client(api).publish("v1.0.0", "demo 1.0.0", "notes", False, files)
    assert len(api.releases_named("v1.0.0")) == 1
    assert release["name"] == "demo 1.0.0"  # the other run's release, updated by ours
    assert set(uploaded(api, release["id"])) == {f.name for f in files}


def test_other_422_is_reported(api):
    api.fail("POST", "/releases", "422-invalid")
    with pytest.raises(PipelineError, match=r"422 .*Validation Failed \(invalid\)"):
        client(api).ensure_release("v1.0.0", "x", "", False)


def test_persistent_server_error_gives_up(api):
    for _ in range(2):
        api.fail("GET", "/releases/tags/", "500")
    with pytest.raises(PipelineError, match="GitHub answered 500"):
        client(api, retries=1).release_by_tag("v1.0.0")


def test_dropped_upload_retried_within_the_run(api, files):
    api.fail("POST", "/uploads/", "drop")
    release = client(api).publish("v1.1.0", "demo", "", False, files)
    assert uploaded(api, release["id"]) == {
        "demo-0.1.0-py3-none-any.whl": ("uploaded", 3000),
        "SHA256SUMS": ("uploaded", 100),
    }


def test_dropped_upload_then_rerun_completes(api, files):
    api.fail("POST", "/uploads/", "drop")
    with pytest.raises(PipelineError, match="no answer from .*re-runs are safe"):
        client(api, retries=0).publish("v1.2.0", "demo", "", False, files)
    (release,) = api.releases_named("v1.2.0")
    partial = "demo-0.1.0-py3-none-any.whl.partial"
    assert uploaded(api, release["id"]) == {partial: ("starter", 1500)}
    assert release["draft"] is True  # never published half-made
    client(api).publish("v1.2.0", "demo", "", False, files)
    assert len(api.releases_named("v1.2.0")) == 1
    assert uploaded(api, release["id"]) == {
        "demo-0.1.0-py3-none-any.whl": ("uploaded", 3000),
        "SHA256SUMS": ("uploaded", 100),
    }


def test_server_errors_are_retried(api):
    api.fail("GET", "/releases/tags/", "500")
    assert client(api).release_by_tag("v9.9.9") is None


def test_unreachable_api_is_one_line():
    with StandIn(TOKEN) as gone:
        url = gone.url
    with pytest.raises(PipelineError) as err:
        github.Client(TOKEN, "o/r", url, retries=1, sleep=lambda _s: None).release_by_tag("v1")
    assert "no answer from 127.0.0.1" in str(err.value) and "2 attempt(s)" in str(err.value)


def test_assets_are_paged(api, tmp_path):
    release = client(api).ensure_release("v2.0.0", "x", "", False)
    for index in range(github.PAGE_SIZE + 5):
        api.state.assets[1000 + index] = {
            "id": 1000 + index,
            "name": f"a{index}",
            "release_id": release["id"],
        }
    assert len(client(api).list_assets(release["id"])) == github.PAGE_SIZE + 5
    path = tmp_path / "a3"
    path.write_text("new", encoding="utf-8")
    client(api).replace_asset(release, path)
    assert [a["name"] for a in api.state.assets_of(release["id"])].count("a3") == 1


@pytest.mark.parametrize(
    ("status", "fragment"),
    [(403, "contents: write"), (404, "does not exist"), (418, "GitHub answered 418")],
)
def test_error_messages(status, fragment):
    error = github.Client(TOKEN, "o/r")._error(  # pylint: disable=protected-access
        "GET", "https://api.github.com/repos/o/r/releases", status, {"message": "m"}
    )
    assert fragment in str(error)


def test_upload_url_strips_the_template():
    url = github.upload_url(
        "https://uploads.github.com/repos/o/r/releases/1/assets{?name,label}", "a b+c.whl"
    )
    assert url == "https://uploads.github.com/repos/o/r/releases/1/assets?name=a%20b%2Bc.whl"


def test_repository_must_be_owner_name():
    with pytest.raises(PipelineError, match="owner/name"):
        github.Client(TOKEN, "just-a-name")


def test_assets_follow_the_link_header_across_pages(api):
    release = client(api).ensure_release("v2.1.0", "x", "", False)
    total = 2 * github.PAGE_SIZE  # exactly full pages: only the Link header says it ends
    for index in range(total):
        api.state.assets[5000 + index] = {"id": 5000 + index, "name": f"b{index}"}
        api.state.assets[5000 + index]["release_id"] = release["id"]
    names = [a["name"] for a in client(api).list_assets(release["id"])]
    assert names == [f"b{index}" for index in range(total)]


def test_next_link_parses_githubs_header():
    header = (
        '<https://api.github.com/x?page=2>; rel="next", '
        '<https://api.github.com/x?page=5>; rel="last"'
    )
    assert github.next_link(header) == "https://api.github.com/x?page=2"
    assert github.next_link('<https://api.github.com/x?page=1>; rel="prev"') is None
    assert github.next_link("") is None
