"""Planning at scale: 1,000,000 CRM contacts, links and Exchange items; the DuckDB planner vs a pandas merge.

The store holds 100 operators x 10,000 synced pairs; then 1% of the CRM contacts are edited, 1% of the
Exchange items are edited (0.2% of them also in the CRM: conflicts), 0.1% are deleted on each side and
0.5% new contacts appear on each side. Prints the planner's time (target < 5 s) and a pandas-merge
implementation of the same link-status diff, timed in the same run (each the best of ``--repeat`` runs).
Ratio target: the pandas merge, loading included, takes at least 1.5x the planner's time.

Usage: python bench/plan_scale.py [--small | --quick] [--contacts N] [--repeat R]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _result import Target, exit_code, report  # noqa: E402
from workbench.fields import CONTACT_FIELDS, hash_sql  # noqa: E402

SPEEDUP = Target("pandas_over_planner", 1.5, what="pandas merge incl. loading / DuckDB planner")


def build(con, n: int, operators: int) -> None:
    from workbench.store.schema import migrate
    migrate(con)          # the whole schema: the planner reads delete_ledger (migration 6) too
    f = ", ".join(CONTACT_FIELDS)
    con.execute(f"""
        INSERT INTO operators SELECT 'OP-' || lpad(i::VARCHAR, 4, '0'), 'Op ' || i, 'op' || i || '@example.com',
               true, now(), 'bench' FROM range({operators}) t(i)""")
    con.execute(f"""
        INSERT INTO contacts ({f}, contact_id, private, updated_at)
        SELECT 'Given' || i, 'Sur' || (i % 997), 'c' || i || '@client.test', '+1 555 ' || i, NULL, NULL,
               'Company ' || (i % 5000), 'Buyer', i || ' Main St', 'Springfield', 'IL', '62701', 'US',
               'CRM-' || lpad(i::VARCHAR, 8, '0'), false, now()
        FROM range({n}) t(i)""")
    con.execute(f"""INSERT INTO contact_team SELECT contact_id, 'OP-' || lpad((hash(contact_id) % {operators})::VARCHAR, 4, '0'),
                   now() FROM contacts""")
    con.execute(f"""
        INSERT INTO exchange_contacts (operator_id, item_id, change_key, crm_id, categories, private, {f}, hash, seen_at)
        SELECT t.operator_id, 'ITEM-' || c.contact_id, 'ck1', c.contact_id, ['PegaSASync'], false,
               {', '.join('c.' + x for x in CONTACT_FIELDS)}, {hash_sql('c')}, now()
        FROM contacts c JOIN contact_team t USING (contact_id)""")
    con.execute("""INSERT INTO links SELECT operator_id, crm_id, item_id, change_key, hash, hash, now()
                   FROM exchange_contacts""")
    # edits on both sides
    con.execute("UPDATE contacts SET job_title = 'CRM edit' WHERE hash(contact_id) % 100 = 1")
    con.execute("UPDATE exchange_contacts SET city = 'Outlook edit', change_key = 'ck2' WHERE hash(item_id) % 100 = 2 "
                "OR hash(crm_id) % 500 = 3")
    con.execute("UPDATE contacts SET job_title = 'CRM edit' WHERE hash(contact_id) % 500 = 3")
    con.execute(f"UPDATE exchange_contacts SET hash = {hash_sql()} WHERE change_key = 'ck2'")
    con.execute("UPDATE contacts SET deleted_at = now() WHERE hash(contact_id) % 1000 = 4")
    con.execute("DELETE FROM exchange_contacts WHERE hash(item_id) % 1000 = 5")
    m = n // 200
    con.execute(f"""
        INSERT INTO contacts ({', '.join(CONTACT_FIELDS)}, contact_id, private, updated_at)
        SELECT 'New' || i, 'Crm', 'new' || i || '@client.test', NULL, NULL, NULL, 'NewCo', NULL, NULL, NULL, NULL,
               NULL, NULL, 'CRM-N' || lpad(i::VARCHAR, 8, '0'), false, now() FROM range({m}) t(i)""")
    con.execute(f"""INSERT INTO contact_team SELECT contact_id, 'OP-' || lpad((hash(contact_id) % {operators})::VARCHAR, 4, '0'),
                   now() FROM contacts WHERE contact_id LIKE 'CRM-N%'""")
    con.execute(f"""
        INSERT INTO exchange_contacts (operator_id, item_id, change_key, crm_id, categories, private, given_name,
                                       surname, email, hash, seen_at)
        SELECT 'OP-' || lpad((i % {operators})::VARCHAR, 4, '0'), 'NEWITEM-' || i, 'ck1', NULL, ['PegaSASync'], false,
               'Outlook' || i, 'Only', 'outlook' || i || '@partner.test', '', now() FROM range({m}) t(i)""")
    con.execute(f"UPDATE exchange_contacts SET hash = {hash_sql()} WHERE item_id LIKE 'NEWITEM-%'")


def pandas_diff(con):
    """The same link-status diff with pandas merges (the baseline); returns counts per action."""
    import pandas as pd
    t0 = time.perf_counter()
    contacts = con.execute("SELECT * FROM contacts").df()
    team = con.execute("SELECT contact_id, operator_id FROM contact_team").df()
    ex = con.execute("SELECT * FROM exchange_contacts").df()
    links = con.execute("SELECT operator_id, contact_id, item_id, change_key, crm_hash, exchange_hash FROM links").df()
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    sep = "\x1f"
    norm = contacts[list(CONTACT_FIELDS)].fillna("").astype(str).apply(lambda s: s.str.strip())
    joined = norm[list(CONTACT_FIELDS[0:1])[0]].str.cat([norm[c] for c in CONTACT_FIELDS[1:]], sep=sep)
    contacts["crm_hash"] = [hashlib.md5(s.encode()).hexdigest() for s in joined]
    live = contacts[contacts["deleted_at"].isna()][["contact_id", "crm_hash"]]
    crm = team.merge(live, on="contact_id")
    scope = ex[ex["categories"].map(lambda c: "PegaSASync" in list(c))]
    pairs = links.merge(crm, on=["operator_id", "contact_id"], how="left", suffixes=("", "_c")) \
                 .merge(scope[["operator_id", "item_id", "change_key", "hash"]], on=["operator_id", "item_id"],
                        how="left", suffixes=("_l", "_e"))
    c_present = pairs["crm_hash_c"].notna() if "crm_hash_c" in pairs else pairs["crm_hash"].notna()
    crm_now = pairs["crm_hash_c"] if "crm_hash_c" in pairs else pairs["crm_hash"]
    e_present = pairs["hash"].notna()
    crm_changed = crm_now != pairs["crm_hash"]
    ex_changed = (pairs["change_key_e"] != pairs["change_key_l"]) & (pairs["hash"] != pairs["exchange_hash"])
    action = pd.Series("noop", index=pairs.index)
    action[crm_changed & ~ex_changed] = "update-exchange"
    action[~crm_changed & ex_changed] = "update-crm"
    action[crm_changed & ex_changed] = "update-exchange"          # crm-wins
    action[c_present & ~e_present] = "unlink-crm"
    action[~c_present & e_present] = "delete-exchange"
    action[~c_present & ~e_present] = "forget"
    new_crm = crm.merge(links[["operator_id", "contact_id"]], how="left", indicator=True)
    new_ex = scope.merge(links[["operator_id", "item_id"]], how="left", indicator=True)
    counts = action[action != "noop"].value_counts().to_dict()
    counts["create-exchange"] = int((new_crm["_merge"] == "left_only").sum())
    counts["create-crm"] = int((new_ex["_merge"] == "left_only").sum())
    return counts, load, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="100,000 contacts")
    parser.add_argument("--quick", action="store_true", help="50,000 contacts, 20 operators (tests/bench)")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--operators", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    n = 100_000 if args.small else args.contacts
    if args.quick:
        n, args.operators, args.repeat = 50_000, 20, 2
    import duckdb

    from workbench.sync.plan import PlanSettings, build_plan
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "plan.duckdb"))
        t0 = time.perf_counter()
        build(con, n, args.operators)
        con.execute("CHECKPOINT")
        print(f"built {n:,} contacts / links / Exchange items in {time.perf_counter() - t0:.1f}s")
        duck, best = float("inf"), (float("inf"), 0.0)
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            plan = build_plan(con, PlanSettings(mass_delete_percent=100))
            duck = min(duck, time.perf_counter() - t0)
            pd_counts, load, pd_time = pandas_diff(con)
            best = min(best, (pd_time + load, pd_time))
        counts = plan.counts()
        con.close()
    total, pd_time = best
    print(f"DuckDB planner (full rules, field-level changes): {duck:.2f}s  (target < 5 s) "
          f"-> {len(plan.actions):,} actions, {len(plan.changes):,} field changes")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    print(f"pandas merge (link-status diff only, no e-mail matching, no field diff): {pd_time:.2f}s "
          f"(+ {total - pd_time:.2f}s to load the tables into pandas)")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(pd_counts.items())))
    print(f"ratio: pandas / DuckDB = {pd_time / duck:.2f}x ({total / duck:.2f}x with loading)")
    summary = (f"planning over {n:,} contacts and links in {duck:.1f} s; a pandas-merge implementation of the "
               f"same diff takes {pd_time / duck:.1f}× ({total / duck:.1f}× with loading the tables)")
    return report("plan_scale", f"{n} contacts", summary, {SPEEDUP: total / duck},
                  contacts=n, planner_s=duck, pandas_s=pd_time, pandas_with_load_s=total, actions=len(plan.actions))


if __name__ == "__main__":
    sys.exit(exit_code(main()))
