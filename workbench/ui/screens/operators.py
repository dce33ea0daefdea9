"""Operators: a paged table with filter and sort, toggle contact sync, import with review, verify, move between
backends (dry run first) the selected operator or every marked one (``x`` marks)."""
from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Checkbox, Input, ProgressBar, Static

from workbench.readmodels.operators import OPERATOR_SORTS, OperatorFilter, operators_source
from workbench.settings import BACKENDS
from workbench.ui.screens.base import WorkbenchScreen
from workbench.ui.widgets.import_review import ImportDialog, ImportRequest, ImportReviewScreen
from workbench.ui.widgets.move_review import MoveReviewScreen
from workbench.ui.widgets.paged_table import PagedTable

SORT_ORDER = tuple(OPERATOR_SORTS)
SHOW_RESULTS = 8          # per-operator lines in the move's result toast


class OperatorsScreen(WorkbenchScreen):
    SUB_TITLE = "Operators"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("space", "toggle", "Toggle sync"),
        Binding("v", "verify_selected", "Verify"),
        Binding("V", "verify_all", "Verify all"),
        Binding("i", "import_csv", "Import CSV"),
        Binding("m", "move_backend", "Move backend"),
        Binding("x", "mark", "Mark", show=False),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    @dataclass
    class Toggled(Message):
        operator_id: str
        enabled: bool

    @dataclass
    class Reviewed(Message):
        request: ImportRequest
        review: object

    @dataclass
    class Imported(Message):
        review: object

    @dataclass
    class VerifyProgress(Message):
        done: int
        total: int
        operator_id: str
        status: str

    @dataclass
    class Verified(Message):
        summary: str

    @dataclass
    class MovePlanned(Message):
        ids: list[str]
        target: str
        results: list

    @dataclass
    class Moved(Message):
        results: list

    @dataclass
    class MoveProgress(Message):
        label: str
        done: int
        total: int
        result: object

    def __init__(self) -> None:
        super().__init__()
        self.filter = OperatorFilter()
        self.last_import_path = ""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="ops-filters"):
            yield Input(placeholder="filter: id, name or e-mail  ( / )", id="ops-filter")
            yield Checkbox("sync on only", id="ops-enabled")
            yield Checkbox("not verified ok", id="ops-failing")
            yield Static("", id="ops-sort")
        yield PagedTable(operators_source(self.filter), id="ops-table", page_size=200)
        with Horizontal(id="ops-progress-row"):
            yield Static("", id="ops-progress-label")
            yield ProgressBar(id="ops-progress", show_eta=False)

    def on_mount(self) -> None:
        self._show_sort()
        self.query_one("#ops-progress-row").display = False
        self.query_one(PagedTable).focus_table()

    @property
    def table(self) -> PagedTable:
        return self.query_one("#ops-table", PagedTable)

    def refresh_data(self) -> None:
        self.table.set_source(operators_source(self.filter), keep_offset=True)

    def _apply_filter(self, **changes) -> None:
        self.filter = OperatorFilter(**{**self.filter.__dict__, **changes})
        self.table.set_source(operators_source(self.filter))
        self._show_sort()

    def _show_sort(self) -> None:
        self.query_one("#ops-sort", Static).update(f"sort: {self.filter.sort} (s)")

    @on(Input.Changed, "#ops-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter(text=event.value)

    @on(Input.Submitted, "#ops-filter")
    def filter_done(self) -> None:
        self.table.focus_table()

    @on(Checkbox.Changed)
    def checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "ops-enabled":
            self._apply_filter(only_enabled=event.value)
        else:
            self._apply_filter(only_failing=event.value)

    def action_focus_filter(self) -> None:
        self.query_one("#ops-filter", Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus_table()

    def action_cycle_sort(self) -> None:
        i = SORT_ORDER.index(self.filter.sort)
        self._apply_filter(sort=SORT_ORDER[(i + 1) % len(SORT_ORDER)])

    # --- toggle -----------------------------------------------------------------
    def action_toggle(self) -> None:
        key = self.table.selected_key
        if key is None:
            return
        row = self.table.table.get_row(key)
        currently = row[3] == "yes"
        self.toggle(key, not currently)

    @work(thread=True, exclusive=True, exit_on_error=False, group="toggle")
    def toggle(self, operator_id: str, enabled: bool) -> None:
        from workbench.operators.switches import set_contact_sync
        set_contact_sync(self.store, [operator_id], enabled, source="dashboard")
        self.post_message(self.Toggled(operator_id, enabled))

    @on(Toggled)
    def toggled(self, event: Toggled) -> None:
        self.notify(f"{event.operator_id}: contact sync {'on' if event.enabled else 'off'}")
        self.table.reload()

    # --- import -----------------------------------------------------------------
    def action_import_csv(self) -> None:
        self.app.push_screen(ImportDialog(self.last_import_path), self._import_chosen)

    def _import_chosen(self, request: ImportRequest | None) -> None:
        if request is not None:
            self.last_import_path = request.path
            self.review_import(request)

    @work(thread=True, exclusive=True, exit_on_error=False, group="import")
    def review_import(self, request: ImportRequest) -> None:
        from workbench.operators.csv_import import import_operators
        review = import_operators(self.store, request.path, mode=request.mode, match=request.match,
                                  dry_run=True, source=None)
        self.post_message(self.Reviewed(request, review))

    @on(Reviewed)
    def reviewed(self, event: Reviewed) -> None:
        def decided(choice: str | None) -> None:
            if choice in ("commit", "commit-valid"):
                self.commit_import(event.request, skip_invalid=choice == "commit-valid")
            else:
                self.notify("Import cancelled: nothing written.")
        self.app.push_screen(ImportReviewScreen(event.review), decided)

    @work(thread=True, exclusive=True, exit_on_error=False, group="import")
    def commit_import(self, request: ImportRequest, *, skip_invalid: bool) -> None:
        from workbench.operators.csv_import import import_operators
        review = import_operators(self.store, request.path, mode=request.mode, match=request.match,
                                  dry_run=False, skip_invalid=skip_invalid)
        self.post_message(self.Imported(review))

    @on(Imported)
    def imported(self, event: Imported) -> None:
        self.notify(event.review.outcome(), title="Import", timeout=8)
        self.table.reload()

    # --- verify -----------------------------------------------------------------
    def action_verify_selected(self) -> None:
        key = self.table.selected_key
        if key is not None:
            self.verify([key])

    def action_verify_all(self) -> None:
        self.verify(None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def verify(self, ids: list[str] | None) -> None:
        from collections import Counter

        from workbench.operators.verify import verify_operators

        def progress(done: int, total: int, check) -> None:     # called in this worker thread
            self.post_message(self.VerifyProgress(done, total, check.operator_id if check else "",
                                                  check.status if check else "starting"))
        checks = verify_operators(self.store, ids, progress=progress)
        counts = Counter(c.status for c in checks)
        summary = f"{len(checks)} operator(s) verified: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        problems = [f"{c.operator_id}: {c.code}" for c in checks if not c.ok]
        if problems:
            summary += "\n" + "\n".join(problems[:6])
        self.post_message(self.Verified(summary))

    @on(VerifyProgress)
    def verify_progress(self, event: VerifyProgress) -> None:
        self.query_one("#ops-progress-row").display = True
        bar = self.query_one("#ops-progress", ProgressBar)
        bar.update(total=event.total, progress=event.done)
        self.query_one("#ops-progress-label", Static).update(
            f"verifying {event.done}/{event.total}: {event.operator_id} {event.status}")

    @on(Verified)
    def verified(self, event: Verified) -> None:
        self.query_one("#ops-progress-row").display = False
        self.notify(event.summary, title="Verification", timeout=8)
        self.table.reload()

    # --- move between backends -------------------------------------------------------
    def action_mark(self) -> None:
        self.table.toggle_mark()

    def action_move_backend(self) -> None:
        """The marked operators (else the selected one): the dry run, then the review."""
        ids = sorted(self.table.marked) or ([self.table.selected_key] if self.table.selected_key else [])
        if ids:
            self.plan_move(ids, None)

    def _move_progress(self, label: str):
        def progress(done: int, total: int, result) -> None:     # called in the worker thread
            self.post_message(self.MoveProgress(label, done, total, result))
        return progress

    @work(thread=True, exclusive=True, exit_on_error=False, group="move")
    def plan_move(self, ids: list[str], target: str | None) -> None:
        """The dry run (``target`` None: the backend the first operator is not on)."""
        from workbench.operators.move import move_operators, other_backend
        target = target or other_backend(self.store, ids[0])
        results = move_operators(self.store, ids, target, dry_run=True, progress=self._move_progress("dry run"))
        self.post_message(self.MovePlanned(ids, target, results))

    @on(MovePlanned)
    def move_planned(self, event: MovePlanned) -> None:
        self.query_one("#ops-progress-row").display = False

        def decided(choice: str | None) -> None:
            if choice == "move":          # the ones the dry run could not translate stay marked, left out
                self.table.set_marks({r.operator_id for r in event.results if r.code})
                self.move([r.operator_id for r in event.results if r.outcome(dry_run=True) == "would move"],
                          event.target)
            elif choice == "retarget":
                self.plan_move(event.ids, next(k for k in BACKENDS if k != event.target))
            else:
                self.notify("Move cancelled: nothing written.")
        self.app.push_screen(MoveReviewScreen(event.target, event.results), decided)

    @work(thread=True, exclusive=True, exit_on_error=False, group="move")
    def move(self, ids: list[str], target: str) -> None:
        from workbench.operators.move import move_operators
        self.post_message(self.Moved(move_operators(self.store, ids, target, source="dashboard",
                                                    progress=self._move_progress("moving"))))

    @on(MoveProgress)
    def move_progress(self, event: MoveProgress) -> None:
        self.query_one("#ops-progress-row").display = True
        self.query_one("#ops-progress", ProgressBar).update(total=event.total, progress=event.done)
        text = f"{event.label} {event.done}/{event.total}"
        if event.result is not None:
            text += f": {event.result.operator_id} {event.result.outcome(dry_run=event.label == 'dry run')}"
        self.query_one("#ops-progress-label", Static).update(text)

    @on(Moved)
    def moved(self, event: Moved) -> None:
        from workbench.operators.move import summary
        self.query_one("#ops-progress-row").display = False
        lines = [r.describe(dry_run=False) for r in event.results]
        if len(lines) > SHOW_RESULTS:
            lines = lines[:SHOW_RESULTS] + [f"… and {len(lines) - SHOW_RESULTS} more (Log screen: move-backend)"]
        self.table.set_marks(self.table.marked | {r.operator_id for r in event.results if r.code})
        if self.table.marked:
            lines.append(f"still marked (m retries): {', '.join(sorted(self.table.marked))}")
        self.notify("\n".join([summary(event.results, dry_run=False), *lines]), title="Move", timeout=12,
                    markup=False, severity="error" if self.table.marked else "information")
        self.table.reload()
