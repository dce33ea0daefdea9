"""The help screen: what each screen is for and its keys."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Workbench dashboard — help

Every screen is one keystroke away; the footer shows the keys of the screen you are on.
**ctrl+p** opens the command palette (all main actions by name). **?** shows this help, **ctrl+q** quits.

| Key | Screen | What you do there |
|---|---|---|
| 1 | Overview | Is contact sync healthy? Integration switch, settings check, operators, last runs, failures with their remedy, agent health |
| 2 | Settings | Every setting with its rule; fields are read-only until **e**, **esc** leaves a field; changed fields are marked ●; **ctrl+s** shows old → new and asks, then saves all or nothing. **ctrl+t** keystore panel: entries, expiry, warnings; **f** fetches the server certificate, **i** imports it after a confirmation |
| 3 | Operators | Filter (**/**), sort (**s**), toggle contact sync (**space**), verify selected (**v**) or all (**V**), import CSV (**i**) with a review before commit; **m** moves the selected operator, or every one marked with **x**, to the other backend (dry run per operator first, **t** other backend, **y** moves) |
| 4 | Preview | The plan for the selected or all operators, grouped by action; field-level before/after; **a** applies after a confirmation, once (then preview again) |
| 5 | Sync | Start (**r**: plans first and asks, naming the writes) and cancel (**c**) a sync; progress per mailbox and overall, items per second, live journal |
| 6 | Log | The journal: filter by run, operator, failed only (**f**); **enter** shows a failure's cause and remedy; notifications sent; Runs tab: **u** undoes a run's deletes after a confirmation |
| 7 | Contacts | Search (**/**) by name, e-mail, company, phone, CRM id or Exchange item id; **enter** opens the contact's story: both sides field by field, its journal with values, deletes, the next sync; **esc** back |

Tables page through the store: **[** / **]** previous / next page, **ctrl+home** / **ctrl+end** first / last page.
Long work runs in the background: the screen stays usable; errors show as `CODE: title — remedy`.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 110; height: 80%; border: thick $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
