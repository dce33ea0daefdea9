"""The execute phase's executors, one per action kind: each sends a batch through the ``Mailbox`` and books
every item's outcome in the batch's ``Outcome``.

Sending is the same for every kind (``_send``): the rows without an answer yet go in one request per
``write_batch`` items, retried under the mailbox's policy; only what is still unanswered is sent again.
A kind adds a ``recover`` step before a retry (create: look the items up by CRM id, so nothing is created
twice) or a ``settle`` step after an answer (update: a stale change key may be our own lost write).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from workbench.errors import WorkbenchError
from workbench.fields import content_hash, expected_row, hash_sql, present
from workbench.mailbox import ItemRef, is_conflict, is_gone
from workbench.sync import faults
from workbench.sync.calls import retrying
from workbench.sync.journal import Outcome, entry
from workbench.sync.plan import fields_of
from workbench.sync.state import Box, RunContext

Answers = dict[int, Any]        # action_id -> ItemRef | True | WorkbenchError
NO_RESULT = WorkbenchError("EWS_ITEM_REJECTED", "no result")


def _send(ctx: RunContext, box: Box, what: str, rows: Sequence[Any], request: Callable[[list[Any]], list[Any]],
          *, recover: Callable[[list[Any], Answers], None] | None = None,
          settle: Callable[[list[Any], Answers], None] | None = None) -> Answers:
    answers: Answers = {}

    def attempt(n: int) -> None:
        pending = [r for r in rows if r.action_id not in answers]
        if n > 0 and pending and recover is not None:
            recover(pending, answers)
            pending = [r for r in pending if r.action_id not in answers]
        if not pending:
            return
        ctx.counters.request(-(-len(pending) // ctx.write_batch))
        replies = request(pending)
        faults.reached(faults.AFTER_REQUEST)
        for r, reply in zip(pending, replies):
            answers[r.action_id] = reply
        if settle is not None:
            settle(pending, answers)

    retrying(ctx, box, what, attempt)
    return answers


def _categories(ctx: RunContext, row: Any) -> list[str]:
    cats = list(row.ex_categories) if row.ex_categories is not None else []
    return list(dict.fromkeys(cats + [ctx.category]))


def _exchange_written(out: Outcome, op: str, r: Any, ref: ItemRef, categories: list[str], private: Any) -> None:
    """Bookkeeping of one contact Exchange now holds as the CRM has it: link, snapshot row, journal."""
    out.links.append({"operator_id": op, "contact_id": r.contact_id, "item_id": ref.item_id,
                      "change_key": ref.change_key, "crm_hash": r.crm_hash, "exchange_hash": r.crm_hash})
    out.snap.append(expected_row(ref.item_id, ref.change_key, fields_of(r, "crm"), crm_id=r.contact_id,
                                 categories=categories, private=bool(private)))
    out.done(r)


class Executor:
    """One action kind. ``run`` sends the batch's rows and books their outcomes."""
    kind = ""
    #: Exchange is written (the mailbox must be open even for rows that need no stamp)
    writes_exchange = True

    def run(self, ctx: RunContext, box: Box, rows: list[Any], out: Outcome) -> None:
        answers = self.send(ctx, box, rows)
        for r in rows:
            self.book(ctx, box.result.operator_id, r, answers.get(r.action_id), out)

    def send(self, ctx: RunContext, box: Box, rows: list[Any]) -> Answers:
        raise NotImplementedError

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        raise NotImplementedError


class CreateExchange(Executor):
    kind = "create-exchange"

    def send(self, ctx: RunContext, box: Box, rows: list[Any]) -> Answers:
        def recover(pending: list[Any], answers: Answers) -> None:
            # the failed request may have created some of them: look them up by CRM id first
            ctx.counters.request()
            found = box.mailbox.find_by_crm_ids([r.contact_id for r in pending], ctx.write_batch)
            for r in pending:
                if found.get(r.contact_id):
                    hit = found[r.contact_id][0]
                    answers[r.action_id] = ItemRef(hit["item_id"], hit["change_key"])

        return _send(ctx, box, "create contacts", rows, lambda pending: box.mailbox.create([
            {"fields": fields_of(r, "crm"), "crm_id": r.contact_id, "categories": [ctx.category],
             "private": bool(r.crm_private)} for r in pending], ctx.write_batch), recover=recover)

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        if isinstance(answer, WorkbenchError) or answer is None:
            out.fail(r, answer or NO_RESULT)
        else:
            _exchange_written(out, op, r, answer, [ctx.category], r.crm_private)


class UpdateExchange(Executor):
    kind = "update-exchange"

    def send(self, ctx: RunContext, box: Box, rows: list[Any]) -> Answers:
        def settle(pending: list[Any], answers: Answers) -> None:
            # a stale change key: done already (a lost answer), or edited meanwhile (a real conflict)
            stale = [r for r in pending if isinstance(answers[r.action_id], WorkbenchError)
                     and is_conflict(answers[r.action_id])]
            if not stale:
                return
            ctx.counters.request()
            current = box.mailbox.fetch_rows([r.item_id for r in stale])
            for r in stale:
                cur = current.get(r.item_id)
                if cur is not None and content_hash(cur) == r.crm_hash and cur["crm_id"] == r.contact_id:
                    answers[r.action_id] = ItemRef(cur["item_id"], cur["change_key"])

        return _send(ctx, box, "update contacts", rows, lambda pending: box.mailbox.update([
            {"item_id": r.item_id, "change_key": r.change_key, "fields": fields_of(r, "crm"),
             "crm_id": r.contact_id, "categories": _categories(ctx, r)} for r in pending], ctx.write_batch),
            settle=settle)

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        if isinstance(answer, WorkbenchError) and is_conflict(answer):
            # edited in Exchange after the plan: never written over, the next plan sees the edit
            out.fail(r, WorkbenchError("EWS_CONFLICT", "changed in Exchange since the plan "
                                       f"(stale change key; {answer.detail}); not overwritten, rerun"))
        elif isinstance(answer, WorkbenchError) or answer is None:
            out.fail(r, answer or NO_RESULT)
        else:
            if r.team_add:
                out.team_add.append((r.contact_id, op))
            _exchange_written(out, op, r, ItemRef(r.item_id, answer.change_key), _categories(ctx, r), r.ex_private)


class DeleteExchange(Executor):
    kind = "delete-exchange"

    def send(self, ctx: RunContext, box: Box, rows: list[Any]) -> Answers:
        def request(pending: list[Any]) -> list[Any]:
            replies = box.mailbox.delete([(r.item_id, None) for r in pending], ctx.write_batch,
                                         ctx.settings.delete_to)
            # not found = moved already (a move gives the item a new id) or deleted by the user
            return [True if (x is True or is_gone(x)) else x for x in replies]
        return _send(ctx, box, "delete contacts in Exchange", rows, request)

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        if answer is not True:
            out.fail(r, answer if isinstance(answer, WorkbenchError) else NO_RESULT)
            return
        if r.match == "link" or present(r.contact_id) is not None:
            # also an item moved back (a new id) whose CRM contact was deleted: its old link goes too
            out.unlinks.append((op, r.contact_id))
        out.snap_delete.append(r.item_id)
        out.done(r)


class CrmSide(Executor):
    """Kinds that write the CRM side or only the store. In Exchange they only stamp (CRM id + sync category)
    the items whose plan row says ``stamp``."""
    writes_exchange = False
    #: the operator joins the contact's team (besides join matches, which every kind honours)
    joins_team = False

    def run(self, ctx: RunContext, box: Box, rows: list[Any], out: Outcome) -> None:
        # a row changed in the CRM already is not stamped either (nothing written that the journal skips)
        early = self.changed_since_plan(ctx, [r for r in rows if bool(r.stamp)])
        stamped = self.send(ctx, box, [r for r in rows if r.action_id not in early])
        stale = self.changed_since_plan(ctx, rows)
        op = box.result.operator_id
        for r in rows:
            ref = stamped.get(r.action_id)
            if isinstance(ref, WorkbenchError):
                out.fail(r, ref)
                continue
            if ref is not None:
                # the link keeps the snapshot's change key: an edit made before the stamp still counts
                out.snap.append(expected_row(r.item_id, ref.change_key, fields_of(r, "ex"), crm_id=r.contact_id,
                                             categories=_categories(ctx, r), private=bool(r.ex_private)))
            if r.action_id in stale:
                # edited in the CRM after the plan: not overwritten with the Exchange values; no link either,
                # so the next plan sees both edits (conflict_policy decides)
                out.stale += 1
                out.log.append(entry(r, "skipped", "PLAN_STALE", stale[r.action_id]))
                continue
            self.book(ctx, op, r, ref, out)
            if self.joins_team or r.team_add:
                out.team_add.append((r.contact_id, op))
            out.done(r)

    def send(self, ctx: RunContext, box: Box, rows: list[Any]) -> Answers:
        need = [r for r in rows if bool(r.stamp)]
        if not need:
            return {}
        return _send(ctx, box, "stamp CRM id", need, lambda pending: box.mailbox.update([
            {"item_id": r.item_id, "change_key": None, "fields": None, "crm_id": r.contact_id,
             "categories": _categories(ctx, r)} for r in pending], ctx.write_batch))

    def changed_since_plan(self, ctx: RunContext, rows: list[Any]) -> dict[int, str]:
        return {}

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        """The store side of one row (the stamp, team join and journal are done by ``run``)."""


def _link(op: str, r: Any, crm_hash: Any) -> dict:
    return {"operator_id": op, "contact_id": r.contact_id, "item_id": r.item_id, "change_key": r.change_key,
            "crm_hash": crm_hash, "exchange_hash": r.exchange_hash}


class CreateCrm(CrmSide):
    kind = "create-crm"
    joins_team = True

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        out.crm.append({"contact_id": r.contact_id, **fields_of(r, "ex"), "private": bool(r.ex_private)})
        out.touched_crm.append(r.contact_id)
        out.links.append(_link(op, r, r.exchange_hash))


class UpdateCrm(CreateCrm):
    kind = "update-crm"
    joins_team = False

    def changed_since_plan(self, ctx: RunContext, rows: list[Any]) -> dict[int, str]:
        """{action_id: why} for rows whose CRM contact changed (or went) since the plan."""
        ids = list(dict.fromkeys(r.contact_id for r in rows))
        if not ids:
            return {}
        found = {cid: (h, live) for cid, h, live in ctx.books.write(lambda con: con.execute(
            f"SELECT contact_id, {hash_sql('c')}, deleted_at IS NULL FROM contacts c "
            f"WHERE contact_id IN ({', '.join('?' for _ in ids)})", ids).fetchall())}
        out: dict[int, str] = {}
        for r in rows:
            h, live = found.get(r.contact_id, (None, False))
            if not live:
                out[r.action_id] = "CRM contact deleted since the plan; not overwritten, rerun"
            elif h != r.crm_hash:
                out[r.action_id] = "changed in the CRM since the plan; not overwritten, rerun"
        return out


class Link(CrmSide):
    kind = "link"

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        out.links.append(_link(op, r, r.crm_hash))


class UnlinkCrm(CrmSide):
    kind = "unlink-crm"

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        out.team_remove.append((r.contact_id, op))
        out.unlinks.append((op, r.contact_id))


class Forget(CrmSide):
    kind = "forget"

    def book(self, ctx: RunContext, op: str, r: Any, answer: Any, out: Outcome) -> None:
        out.unlinks.append((op, r.contact_id))


#: the executors in the order a mailbox runs its action kinds
EXECUTORS: tuple[Executor, ...] = (CreateExchange(), UpdateExchange(), DeleteExchange(), CreateCrm(), UpdateCrm(),
                                   Link(), UnlinkCrm(), Forget())
