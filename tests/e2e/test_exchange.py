"""`switchyard export DIR` / `switchyard import DIR` through the real command line, on
both backends: the byte-identical round trip over a store holding every kind, --dry-run,
--prune, a bad definition refusing the whole import, secrets never written by value, and
the admin right (engine/ops/exchange.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_postgresql.janitor import DatabaseJanitor

SECRET_VALUE = "s3cret-value-never-exported"
QUICK = """\
process: quick
variables:
  amount: {type: decimal}
start: go
states:
  go:
    actions:
      - log: "quick VERSION {{ amount }}"
      - end_process: done
"""


@pytest.fixture
def empty_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty store on the same backend as ``db_url``."""
    if not db_url.startswith("postgresql"):
        folder = tmp_path / "target"
        folder.mkdir(mode=0o700)
        yield f"sqlite+aiosqlite:///{folder / 'switchyard.db'}"
        return
    server: Any = request.getfixturevalue("pg_server")
    name = f"switchyard_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(
        user="postgres", host="127.0.0.1", port=server.port, dbname=name, version=None
    ):
        yield server.url(name)


async def publish(h: Any, name: str, text: str) -> None:
    path = h.tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    await h.engine.publish([path])


async def fill(h: Any) -> None:
    """A store holding every kind that an export writes."""
    from switchyard.engine.api import ScheduleSpec
    from switchyard.engine.monitor.filters import MonitorFilter

    e = h.engine
    await e.add_lane("batch", 2)
    await e.add_user("ann", name="Ann Example", licence="group", roles=["clerk"])
    await e.add_group("reviewers")
    await e.add_member("reviewers", "ann")
    await e.add_secspec("finance", users=["ann"], groups=["reviewers"])
    await e.set_secret("token", SECRET_VALUE)
    await e.set_param("depth_threshold", "12")
    await e.save_filter("waiting", MonitorFilter(statuses=["waiting"]))
    await publish(h, "quick", QUICK.replace("VERSION", "v1"))
    await publish(h, "quick", QUICK.replace("VERSION", "v2"))
    await e.add_schedule(
        ScheduleSpec(name="nightly", cron="0 2 * * *", command=["true"], lane="batch")
    )
    await e.add_schedule(ScheduleSpec(name="on-demand", on_demand=True, process="quick"))
    await e.grant("quick", "reviewers", launch=True, view=True)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("versions", [[], ["--all-versions"]], ids=["latest", "all-versions"])
async def test_round_trip_is_byte_identical(
    sy: Any, harness_for: Any, empty_url: str, tmp_path: Path, versions: list[str]
) -> None:
    await fill(sy)
    first, second = tmp_path / "first", tmp_path / "second"
    sy.cli("export", str(first), *versions)
    files = tree(first)
    for rel in (
        "lanes/default.yaml", "lanes/batch.yaml", "users/ann.yaml", "groups/reviewers.yaml",
        "secspecs/finance.yaml", "processes/quick.yaml", "schedules/nightly.yaml",
        "schedules/on-demand.yaml", "rights/quick/group-reviewers.yaml",
        "params/depth_threshold.yaml", "secrets.yaml",
    ):  # fmt: skip
        assert rel in files, sorted(files)
    assert any(rel.startswith("filters/") for rel in files)
    assert files["processes/quick.yaml"] == QUICK.replace("VERSION", "v2").encode()
    if versions:
        assert files["processes/quick@1.yaml"] == QUICK.replace("VERSION", "v1").encode()
    assert (first.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in first.rglob("*.yaml"))

    data = tmp_path / "target-data"
    data.mkdir(mode=0o700)
    target = await harness_for(empty_url, data)
    # secrets travel by name only: a store without them refuses the import
    refused = target.cli("import", str(first), expect=2)
    assert "token" in refused.stderr
    target.cli("secret", "set", "token", input="another-value\n")
    target.cli("import", str(first))
    target.cli("export", str(second), *versions)
    assert tree(second) == files


async def test_dry_run_lists_and_changes_nothing_prune_removes(sy: Any, tmp_path: Path) -> None:
    await fill(sy)
    out = tmp_path / "out"
    sy.cli("export", str(out))
    (out / "lanes" / "batch.yaml").write_text("concurrency: 5\nname: batch\n")
    (out / "lanes" / "extra.yaml").write_text("concurrency: 1\nname: extra\n")
    (out / "schedules" / "nightly.yaml").unlink()

    plan = sy.json("import", str(out), "--dry-run", "--prune")
    changes = {c["path"]: c["change"] for c in plan["changes"]}
    assert plan["applied"] is False
    assert changes["lanes/batch.yaml"] == "changed"
    assert changes["lanes/extra.yaml"] == "added"
    assert changes["schedules/nightly.yaml"] == "removed"
    assert changes["users/ann.yaml"] == "unchanged"
    lanes = {lane.name: lane.concurrency for lane in await sy.engine.lanes()}
    assert lanes["batch"] == 2 and "extra" not in lanes
    assert "nightly" in {s.name for s in await sy.engine.schedules()}

    sy.cli("import", str(out))  # without --prune: nothing removed
    assert "nightly" in {s.name for s in await sy.engine.schedules()}
    lanes = {lane.name: lane.concurrency for lane in await sy.engine.lanes()}
    assert lanes["batch"] == 5 and lanes["extra"] == 1

    done = sy.cli("import", str(out), "--prune")
    assert "removed" in done.stdout
    assert "nightly" not in {s.name for s in await sy.engine.schedules()}


async def test_a_bad_definition_refuses_the_whole_import(sy: Any, tmp_path: Path) -> None:
    await fill(sy)
    out = tmp_path / "out"
    sy.cli("export", str(out))
    (out / "lanes" / "extra.yaml").write_text("concurrency: 1\nname: extra\n")
    bad = out / "processes" / "broken.yaml"
    bad.write_text("process: broken\nstart: go\nstates:\n  go:\n    actions:\n      - nope: 1\n")
    proc = sy.cli("import", str(out), expect=2)
    assert f"{bad}:" in proc.stderr and ":6:" in proc.stderr, proc.stderr
    assert "extra" not in {lane.name for lane in await sy.engine.lanes()}
    assert "broken" not in {p.name for p in await sy.engine.processes()}

    bad.unlink()
    (out / "users" / "ann.yaml").write_text("login: ann\nlicence: [oops\n")
    proc = sy.cli("import", str(out), expect=2)
    assert "users/ann.yaml" in proc.stderr, proc.stderr
    assert "extra" not in {lane.name for lane in await sy.engine.lanes()}


async def test_secrets_are_exported_by_name_only(sy: Any, tmp_path: Path) -> None:
    await fill(sy)
    out = tmp_path / "out"
    sy.cli("export", str(out), "--all-versions")
    assert b"token" in (out / "secrets.yaml").read_bytes()
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET_VALUE.encode() not in path.read_bytes(), path


async def test_refusals(sy: Any, tmp_path: Path) -> None:
    await sy.engine.add_user("bob", licence="designer")
    out = tmp_path / "out"
    proc = sy.cli("--as", "bob", "export", str(out), expect=4)
    assert "export the store" in proc.stderr
    assert not out.exists()
    proc = sy.cli("--as", "bob", "import", str(tmp_path), expect=4)
    assert "import into the store" in proc.stderr
    proc = sy.cli("import", str(tmp_path / "missing"), expect=3)
    assert "missing" in proc.stderr


async def test_a_failed_write_applies_nothing(sy: Any, tmp_path: Path) -> None:
    """A file that passes reading but fails while applying (a member nobody has) rolls
    back the changes already written on the same transaction."""
    await fill(sy)
    out = tmp_path / "out"
    sy.cli("export", str(out))
    (out / "lanes" / "aaa.yaml").write_text("concurrency: 3\nname: aaa\n")  # applied first
    (out / "groups" / "reviewers.yaml").write_text("members:\n- ann\n- nobody\nname: reviewers\n")
    proc = sy.cli("import", str(out), expect=2)
    assert "groups/reviewers.yaml: members" in proc.stderr and "nobody" in proc.stderr
    assert "aaa" not in {lane.name for lane in await sy.engine.lanes()}


async def test_bad_fields_and_changed_versions_are_refused(sy: Any, tmp_path: Path) -> None:
    await fill(sy)
    out = tmp_path / "out"
    sy.cli("export", str(out), "--all-versions")
    nightly = out / "schedules" / "nightly.yaml"
    good = nightly.read_text()
    nightly.write_text(good.replace("overlap: queue", "overlap: sometimes"))
    proc = sy.cli("import", str(out), expect=2)
    assert "schedules/nightly.yaml: overlap" in proc.stderr, proc.stderr
    nightly.write_text(good)
    (out / "processes" / "quick@1.yaml").write_text(QUICK.replace("VERSION", "v9"))
    proc = sy.cli("import", str(out), "--dry-run", expect=2)
    assert "quick@1.yaml" in proc.stderr and "cannot change" in proc.stderr, proc.stderr
    assert [p.version for p in await sy.engine.processes()] == [2]


async def test_an_import_is_audited(sy: Any, tmp_path: Path) -> None:
    await fill(sy)
    out = tmp_path / "out"
    sy.cli("export", str(out))
    (out / "lanes" / "extra.yaml").write_text("concurrency: 1\nname: extra\n")
    sy.cli("import", str(out))
    entry = next(a for a in await sy.engine.audit() if a.action == "import")
    assert entry.target == str(out) and entry.detail["added"] == 1
