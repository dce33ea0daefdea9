"""Overview: is contact sync healthy? Everything at a glance, read in one worker."""
from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from workbench.readmodels.journal import RUN_COLUMNS
from workbench.readmodels.overview import Overview, overview
from workbench.ui.data import cell, fmt_ago
from workbench.ui.screens.base import WorkbenchScreen


class OverviewScreen(WorkbenchScreen):
    SUB_TITLE = "Overview"
    BINDINGS = [Binding("c", "check", "Run check")]

    @dataclass
    class Loaded(Message):
        data: Overview

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="ov-boxes"):
            yield Static(id="ov-integration", classes="box")
            yield Static(id="ov-operators", classes="box")
            yield Static(id="ov-agent", classes="box")
        with Vertical(id="ov-runs-box", classes="section"):
            yield Static("Last runs", classes="section-title")
            yield DataTable(id="ov-runs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="ov-attention-box", classes="section"):
            yield Static("Needs attention", classes="section-title")
            with VerticalScroll():
                yield Static(id="ov-attention")

    def on_mount(self) -> None:
        runs = self.query_one("#ov-runs", DataTable)
        runs.add_columns(*(c.label for c in RUN_COLUMNS))
        for box, title in (("#ov-integration", "Contact sync"), ("#ov-operators", "Operators"),
                           ("#ov-agent", "Agent & subscriptions")):
            self.query_one(box).border_title = title

    def refresh_data(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        self.post_message(self.Loaded(overview(self.store, self.clock())))

    def action_check(self) -> None:
        self.notify("Running `workbench check` against the configured server…", title="Check")
        self.run_check()

    @work(thread=True, exclusive=True, exit_on_error=False, group="check")
    def run_check(self) -> None:
        from workbench.checks import run_check
        report = run_check(self.store, source="dashboard")
        self.post_message(self.Checked(report))

    @dataclass
    class Checked(Message):
        report: object

    @on(Checked)
    def checked(self, event: Checked) -> None:
        report = event.report
        if report.ok:
            self.notify("✓ every check step passed", title="Check")
        else:
            lines = [f"✗ {s.step}: {s.code} — {s.remedy}" for s in report.failed]
            self.notify("\n".join(lines), title="Check failed", severity="error", timeout=15, markup=False)
        self.load()

    @on(Loaded)
    def show(self, event: Loaded) -> None:
        d, clock_now = event.data, self.clock()
        integ = Text()
        integ.append("Integration  ")
        integ.append(" ON " if d.integration else " OFF ",
                     style="bold black on green" if d.integration else "bold white on red")
        integ.append("\nSettings     ")
        if d.settings_problems:
            integ.append(f"✗ {len(d.settings_problems)} problem(s)", style="bold red")
            for problem in d.settings_problems[:3]:
                integ.append(f"\n  · {problem.split(':')[0].split('=')[0]}", style="red")
        else:
            integ.append("✓ valid", style="bold green")
        integ.append("\nCheck        ")
        if d.last_check is None:
            integ.append("never run", style="yellow")
        else:
            ok = d.last_check.get("ok")
            integ.append("✓ passed" if ok else "✗ failed", style="bold green" if ok else "bold red")
            integ.append(f"  {fmt_ago(d.last_check.get('checked_at'), clock_now)}")
            for line in d.last_check["failed"][:2]:
                integ.append(f"\n  ✗ {line}", style="red")
            for line in d.last_check["warnings"][:1]:
                integ.append(f"\n  ! {line}", style="yellow")
        self.query_one("#ov-integration", Static).update(integ)

        ops = Text()
        ops.append(f"{d.operators_total:>6,} total\n")
        ops.append(f"{d.operators_enabled:>6,} sync on\n")
        ops.append(f"{d.operators_verified:>6,} ✓ verified\n", style="green")
        ops.append(f"{d.operators_failing:>6,} ✗ verify failing\n",
                   style="bold red" if d.operators_failing else "")
        ops.append(f"{d.operators_unverified:>6,} ? never verified", style="yellow" if d.operators_unverified else "")
        if d.backends:                       # which backend serves them: "21 ews · 3 graph" (hybrid)
            first, *rest = d.backends.items()
            ops.append(f"\n{first[1]:>6,} {first[0]}" + "".join(f" · {n:,} {kind}" for kind, n in rest))
        self.query_one("#ov-operators", Static).update(ops)

        agent = Text()
        agent.append(f"{d.mailboxes:>5,} mailboxes\n")
        agent.append(f"{d.subscribed:>5,} subscribed (push)\n")
        agent.append(f"{d.lapsed:>5,} ✗ lapsed (silent)\n", style="bold red" if d.lapsed else "")
        agent.append(f"{d.streaking:>5,} ✗ failure streak\n", style="bold red" if d.streaking else "")
        agent.append(f"push {fmt_ago(d.last_notification_at, clock_now)}\n"
                     f"oldest ok {fmt_ago(d.last_success_at, clock_now)}")
        self.query_one("#ov-agent", Static).update(agent)

        runs = self.query_one("#ov-runs", DataTable)
        runs.clear()
        for row in d.runs:
            status = row[4]
            style = {"ok": "green", "failed": "bold red", "partial": "yellow", "cancelled": "yellow",
                     "running": "cyan", "died": "bold red"}.get(status, "")
            values = [cell(v) for v in row]
            values[4] = Text(status, style=style)
            runs.add_row(*values, key=str(row[0]))
        if not d.runs:
            runs.add_row("", "no sync run yet", *[""] * (len(RUN_COLUMNS) - 2))

        parts: list[Text | Table] = []
        for item in d.attention:
            head = Text()
            head.append(f"✗ {item.code}", style="bold red")
            head.append(f" ×{item.count} ({item.where}) — {item.title}", style="bold")
            parts += [head, _labelled([("cause:", item.cause), ("remedy:", item.remedy)])]
        if not d.attention:
            parts.append(Text("✓ no failures in the last run or in verification", style="green"))
        if d.cancelled:
            parts.append(Text(f"■ {d.cancelled} mailbox(es) cancelled by a person in the last run — not a failure; "
                              "the next run picks them up", style="yellow"))
        att = Group(*parts)
        self.query_one("#ov-attention", Static).update(att)
        self.query_one("#ov-attention-box").border_subtitle = f"journal: {d.journal_rows:,} entries"


def _labelled(lines: list[tuple[str, str | None]]) -> Table:
    """``label: text`` lines whose text wraps under itself, not under the label (a hanging indent)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for label, text in lines:
        if text:
            grid.add_row(Text("  " + label), Text(text))
    return grid
