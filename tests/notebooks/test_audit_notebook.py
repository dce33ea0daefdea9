"""01-operator-audit executed top to bottom against a demo store and a running sandbox Exchange."""
from __future__ import annotations

from notebook_runner import all_output_text, execute, result
from workbench import insights
from workbench.csvio import read_csv

SEEDED_PROBLEMS = {"OP-001": "EWS_EMAIL_MISMATCH",          # e-mail is an alias of the mailbox
                   "OP-002": "EWS_MAILBOX_NOT_FOUND",       # no mailbox at all
                   "OP-003": "EWS_IMPERSONATION_DENIED"}    # mailbox refuses impersonation


def test_audit_finds_the_seeded_problem_operators_and_dry_runs_a_bulk_enable(exchange_env, tmp_path):
    store = exchange_env.store
    disabled = insights.cohort(store, enabled=False)["operator_id"].tolist()
    assert disabled == ["OP-006"]                              # every 6th operator of the seed is off
    nb = execute("01-operator-audit.ipynb", store.path, tmp_path / "run")
    got = result(nb)

    assert got["failing"] == SEEDED_PROBLEMS
    assert got["email_mismatches"] == ["OP-001"]
    assert got["counts"]["enabled_failing"] == 3
    assert got["counts"]["enabled_verified"] == got["counts"]["enabled"] - 3
    # the cohort: disabled operators whose mailbox verified fine, as a CSV the import accepts
    assert got["cohort"] == ["OP-006"]
    assert got["dry_run"] == {"processed": 1, "added": 0, "updated": 1, "unchanged": 0, "failed": 0,
                              "written": False}
    table = read_csv(got["csv"], required=("operator_id", "contact_sync"))
    assert table.column("operator_id") == ["OP-006"] and table.column("contact_sync") == ["true"]
    # the dry run wrote nothing; the verification history did grow (a check per operator and run)
    assert insights.cohort(store, enabled=False)["operator_id"].tolist() == ["OP-006"]
    audit = insights.operator_audit(store).set_index("operator_id")
    assert audit.loc["OP-006", "verification"] == "verified"
    assert (audit["checks"] >= 1).all()
    # the demo organisation is all EWS: the notebook's per-backend count is the read model's
    assert got["backends"] == insights.backend_counts(store).set_index("backend").to_dict("index")
    assert got["backends"]["ews"]["operators"] == len(audit) and got["backends"]["graph"]["operators"] == 0
    text = all_output_text(nb)
    for secret in (exchange_env.password, exchange_env.keystore_password):
        assert secret not in text
