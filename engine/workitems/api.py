"""The work-item operations of the engine: list, open, claim, release, delegate, forward,
hold, save a draft, complete. Mixed into ``Engine``; each has a rule in
engine/people/rules.py (``access.on_work_item``).

Every change is one transaction with a guarded update (the status it expects in the
WHERE clause): when two people act at once, one wins and the other gets a Conflict that
says who has the item now. Completing wakes the instance, which applies the values and
runs the button's actions (engine/process/compound.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError, Withdrawn, check_page
from switchyard.engine.instances.transition import wake
from switchyard.engine.kernel import events as ev
from switchyard.engine.people import workitem_access as access
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.masking import MASK
from switchyard.engine.people.rules import anyone, rule
from switchyard.engine.people.workitem_access import on_work_item
from switchyard.engine.workitems import forms as form_values
from switchyard.engine.workitems.views import (
    VIEWS,
    FieldView,
    WorkItemDetail,
    WorkItemPage,
    WorkItemView,
    item_view,
)
from switchyard.store.models import (
    WI_CANCELLED,
    WI_COMPLETED,
    WI_HELD,
    WI_IN_PROGRESS,
    WI_OFFERED,
    WI_OPEN,
    WI_QUEUED,
)
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import steps as step_q
from switchyard.store.queries import workitems as wi_q

SORTS = tuple(wi_q.SORTS)


class WorkItemApi(Guard):
    # ------------------------------------------------------------- lists
    async def _items_where(self, view: str, conn: AsyncConnection) -> ColumnElement[bool]:
        me = await self._me()
        if view == "mine":
            return wi_q.mine(me.login)
        groups = me.groups if me.has_licence("group") or me.admin else ()
        if view == "groups":
            return wi_q.in_groups(groups)
        if view == "all":
            return wi_q.any_of(
                wi_q.mine(me.login),
                wi_q.in_groups(me.groups),
                wi_q.of_instances(await self._visible(conn)),
            )
        raise SwitchyardError("view", f"expected one of {', '.join(VIEWS)}, got {view!r}")

    @rule(anyone)  # filtered in the query
    async def work_items(
        self,
        view: str = "mine",
        *,
        process: str | None = None,
        status: list[str] | None = None,
        overdue: bool = False,
        workgroup: str | None = None,
        sort: str = "due",
        limit: int = 100,
        offset: int = 0,
    ) -> WorkItemPage:
        """A page of the work items in ``view`` (mine | groups | all) the caller may see:
        open ones unless ``status`` says otherwise. ``counts`` has each view's open total."""
        check_page(limit, offset)
        if sort not in wi_q.SORTS:
            raise SwitchyardError("sort", f"expected one of {', '.join(SORTS)}, got {sort!r}")
        now = self.clock.now()
        async with self.store.read() as conn:
            wheres = {v: await self._items_where(v, conn) for v in VIEWS}
            if view not in wheres:
                raise SwitchyardError("view", f"expected one of {', '.join(VIEWS)}, got {view!r}")
            extra = wi_q.filters(
                process=process,
                status=status or None,
                overdue_at=now if overdue else None,
                workgroup=workgroup,
            )
            if not status:
                extra.append(wi_q.open_only())
            where = and_(wheres[view], *extra)
            rows = await wi_q.page(conn, where, sort=sort, limit=limit, offset=offset)
            total = await wi_q.count(conn, where)
            counts = {
                v: await wi_q.count(conn, and_(w, wi_q.open_only())) for v, w in wheres.items()
            }
        return WorkItemPage([item_view(r, now) for r in rows], total, counts)

    # -------------------------------------------------------------- one
    async def _item(self, conn: AsyncConnection, item_id: int) -> dict[str, Any]:
        row = await wi_q.get(conn, int(item_id))
        if row is None:
            raise NotFound("work item", f"no work item {item_id}")
        return row

    async def _form(
        self, conn: AsyncConnection, item: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(form spec, instance row, definition doc) of an item."""
        row = await inst_q.get(conn, int(item["instance_id"]))
        if row is None or row.get("definition_id") is None:
            raise NotFound("instance", f"the instance of work item {item['id']} is gone")
        definition = await proc_q.get_by_id(conn, int(row["definition_id"]))
        doc = (definition or {}).get("doc") or {}
        form = (doc.get("forms") or {}).get(item["form"])
        if form is None:
            raise NotFound("form", f"form {item['form']} is not in the instance's definition")
        return form, row, doc

    @rule(on_work_item("view"), arg="item_id")
    async def work_item(self, item_id: int) -> WorkItemDetail:
        """An item with its form: every field with its value (the draft's, else the
        variable's), masked where the caller may not see it; its buttons."""
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
            form, row, _doc = await self._form(conn, item)
        masker = await self._masker(row)
        stored = dict(row.get("variables") or {})
        draft = dict(item.get("draft") or {})
        done = dict(item.get("values") or {})
        fields = []
        for spec in form["fields"]:
            name = spec["name"]
            hidden = name in masker.hidden
            if hidden:
                value: Any = MASK
            elif name in done:
                value = done[name]
            elif name in draft:
                value = draft[name]
            else:
                value = stored.get(name) if spec.get("variable") else None
            fields.append(
                FieldView(
                    name=name,
                    label=spec.get("label") or name,
                    type=spec["type"],
                    value=value,
                    required=bool(spec.get("required")),
                    multiline=bool(spec.get("multiline")),
                    readonly=hidden or not form_values.editable(spec),
                    masked=hidden,
                    choices=spec.get("choices"),
                    min=spec.get("min"),
                    max=spec.get("max"),
                    pattern=spec.get("pattern"),
                )
            )
        me = await self._me()
        return WorkItemDetail(
            item=item_view(item, self.clock.now()),
            fields=fields,
            buttons=list(form["buttons"]),
            instance_status=row["status"],
            instance_state=row.get("current_state"),
            originator=row.get("originator"),
            may=await access.may(self, me, item),
        )

    # ---------------------------------------------------------- changes
    async def _change(
        self,
        item_id: int,
        op: str,
        values: dict[str, Any],
        *,
        expect: tuple[str, ...],
        expect_user: str | bool | None = False,
        detail: dict[str, Any] | None = None,
    ) -> WorkItemView:
        me = await self._me()
        async with self.tx() as tx:
            item = await self._item(tx.conn, item_id)
            changed = await wi_q.change(
                tx.conn,
                int(item_id),
                {**values, "updated_at": tx.now},
                only_status=expect,
                only_user=expect_user,
            )
            if not changed:
                raise _refusal(await self._item(tx.conn, item_id), op)
            await step_q.add_history(
                tx.conn,
                int(item["instance_id"]),
                "workitem",
                tx.now,
                me.login,
                {"item": int(item_id), "op": op, **(detail or {})},
            )
            status = values.get("status", item["status"])
            tx.emit(
                ev.WORK_ITEMS_CHANGED,
                item_id,
                ids=[int(item_id)],
                status=status,
                instance=int(item["instance_id"]),
            )
            after = await self._item(tx.conn, item_id)
        return item_view(after, self.clock.now())

    @rule(on_work_item("claim"), arg="item_id")
    async def claim_work_item(self, item_id: int, *, session: str | None = None) -> WorkItemView:
        """Pick an item up: from the workgroup, or one offered (or held) to the caller.
        ``session`` ties it to a console's node: if that node dies or stops, the item comes
        back held at the same user with its draft."""
        me = await self._me()
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
        if access.waiting_in_group(item):
            return await self._change(
                item_id,
                "claimed",
                {"status": WI_IN_PROGRESS, "user": me.login, "session": session},
                expect=(WI_QUEUED, WI_HELD),
                expect_user=None,
            )
        _not_taken(item, me.login, me.admin, "claimed")
        return await self._change(
            item_id,
            "claimed",
            {"status": WI_IN_PROGRESS, "user": me.login, "session": session, "held_reason": None},
            expect=(WI_OFFERED, WI_HELD, WI_IN_PROGRESS),
            expect_user=item["user"],
        )

    @rule(on_work_item("release"), arg="item_id")
    async def release_work_item(self, item_id: int) -> WorkItemView:
        """Give an item back to its workgroup (its draft is kept)."""
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
        if not item["workgroup"]:
            raise Conflict(
                "work item",
                f"work item {item_id} was sent to {item['user']} directly and has no "
                "workgroup to go back to; delegate or forward it instead",
            )
        return await self._change(
            item_id,
            "released",
            {"status": WI_QUEUED, "user": None, "session": None, "held_reason": None},
            expect=(WI_OFFERED, WI_IN_PROGRESS, WI_HELD),
            expect_user=item["user"],
        )

    @rule(on_work_item("delegate"), arg="item_id")
    async def delegate_work_item(self, item_id: int, login: str) -> WorkItemView:
        """Offer an item to one user (who must exist)."""
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
            target = await people_q.get_user(conn, login)
        if target is None:
            raise NotFound("user", f"not a Switchyard user: {login}")
        return await self._change(
            item_id,
            "delegated",
            {"status": WI_OFFERED, "user": login, "session": None, "held_reason": None},
            expect=WI_OPEN,
            expect_user=item["user"],
            detail={"to": login},
        )

    @rule(on_work_item("forward"), arg="item_id")
    async def forward_work_item(self, item_id: int, group: str) -> WorkItemView:
        """Send an item to another workgroup, where its members pick it up."""
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
            target = await people_q.get_group(conn, group)
        if target is None:
            raise NotFound("workgroup", f"no workgroup {group}")
        return await self._change(
            item_id,
            "forwarded",
            {
                "status": WI_QUEUED,
                "user": None,
                "workgroup": group,
                "session": None,
                "held_reason": None,
            },
            expect=WI_OPEN,
            expect_user=item["user"],
            detail={"to": group},
        )

    @rule(on_work_item("hold"), arg="item_id")
    async def hold_work_item(self, item_id: int) -> WorkItemView:
        """Put an item aside; it stays with its user (or workgroup), its draft kept."""
        me = await self._me()
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
        return await self._change(
            item_id,
            "held",
            {"status": WI_HELD, "session": None, "held_reason": f"held by {me.login}"},
            expect=(WI_QUEUED, WI_OFFERED, WI_IN_PROGRESS),
            expect_user=item["user"],
        )

    @rule(on_work_item("work"), arg="item_id")
    async def save_work_item_draft(self, item_id: int, values: dict[str, Any]) -> WorkItemView:
        """Keep what was typed so far (as typed: a draft is not checked). Secured fields
        the caller may not see cannot be written."""
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
            form, row, _doc = await self._form(conn, item)
        me = await self._me()
        _not_taken(item, me.login, me.admin, "saved")
        editable = {f["name"] for f in form["fields"] if form_values.editable(f)}
        hidden = (await self._masker(row)).hidden
        unknown = sorted(set(values) - editable)
        if unknown:
            raise form_values.FormInvalid(dict.fromkeys(unknown, "not an editable field here"))
        draft = {
            **(item.get("draft") or {}),
            **{k: v for k, v in values.items() if k not in hidden},
        }
        async with self.tx() as tx:
            changed = await wi_q.change(
                tx.conn,
                int(item_id),
                {"draft": draft, "updated_at": tx.now},
                only_status=WI_OPEN,
                only_user=item["user"],
            )
            if not changed:
                raise _refusal(item, "saved")
        return item_view({**item, "draft": draft}, self.clock.now())

    @rule(on_work_item("work"), arg="item_id")
    async def complete_work_item(
        self, item_id: int, button: str, values: dict[str, Any] | None = None
    ) -> WorkItemView:
        """Press a button: check every field (``values`` over the draft over the current
        variables), store the values, wake the instance. Nothing changes if a field is
        wrong: FormInvalid names each field and what is wrong with it."""
        me = await self._me()
        given = dict(values or {})
        async with self.store.read() as conn:
            item = await self._item(conn, item_id)
            form, row, _doc = await self._form(conn, item)
        if item["status"] not in WI_OPEN:
            raise _refusal(item, "completed")
        _not_taken(item, me.login, me.admin, "completed")
        label = _button(form, button)
        hidden = (await self._masker(row)).hidden
        fields = [f if f["name"] not in hidden else {**f, "readonly": True} for f in form["fields"]]
        checked = form_values.check(
            fields, given, draft=item.get("draft") or {}, current=row.get("variables") or {}
        )
        async with self.tx() as tx:
            changed = await wi_q.change(
                tx.conn,
                int(item_id),
                {
                    "status": WI_COMPLETED,
                    "user": item["user"] or me.login,
                    "button": label,
                    "values": checked,
                    "draft": {},
                    "session": None,
                    "timer_at": None,
                    "completed_by": me.login,
                    "completed_at": tx.now,
                    "updated_at": tx.now,
                },
                only_status=WI_OPEN,
                only_user=item["user"],
            )
            if not changed:  # someone (or the instance's end) was first: say what it is now
                raise _refusal(await self._item(tx.conn, item_id), "completed")
            instance_id = int(item["instance_id"])
            await step_q.add_history(
                tx.conn,
                instance_id,
                "workitem",
                tx.now,
                me.login,
                {"item": int(item_id), "op": "completed", "button": label},
            )
            tx.emit(
                ev.WORK_ITEMS_CHANGED,
                item_id,
                ids=[int(item_id)],
                status=WI_COMPLETED,
                instance=instance_id,
            )
            await wake(tx, instance_id, row["lane"])
            after = await self._item(tx.conn, item_id)
        return item_view(after, self.clock.now())


def _not_taken(item: dict[str, Any], login: str, admin: bool, op: str) -> None:
    """Someone else has the item (its group's member may try, and learns who has it)."""
    if item["user"] is not None and item["user"] != login and not admin:
        raise _refusal(item, op)


def _button(form: dict[str, Any], given: str) -> str:
    labels = list(form["buttons"])
    for label in labels:
        if label == given or label.lower() == given.strip().lower():
            return str(label)
    raise form_values.FormInvalid(
        {"button": f"no button {given!r} on this form (buttons: {', '.join(labels)})"}
    )


def _refusal(item: dict[str, Any], op: str) -> Conflict:
    """The error for an operation the item's state does not allow: a withdrawn (cancelled)
    item is over for good (``Withdrawn``, exit 4, saying why); anything else a Conflict."""
    if item["status"] == WI_CANCELLED:
        return Withdrawn("work item", _state_problem(item, op))
    return Conflict("work item", _state_problem(item, op))


def _state_problem(item: dict[str, Any], op: str) -> str:
    """Why an operation found the item in another state than it expected."""
    link = (
        " to" if item["status"] == WI_OFFERED else (" at" if item["status"] == WI_HELD else " with")
    )
    who = f"{link} {item['user']}" if item.get("user") else ""
    if item["status"] == WI_COMPLETED:
        return f"work item {item['id']} was already completed by {item.get('completed_by')}"
    if item["status"] == WI_CANCELLED and (item.get("held_reason") or "").startswith("withdrawn"):
        return f"work item {item['id']} was {item['held_reason']}"
    if item["status"] == WI_CANCELLED:
        return f"work item {item['id']} was withdrawn"
    if item["status"] not in WI_OPEN:
        return f"work item {item['id']} is {item['status']}"
    return f"work item {item['id']} could not be {op}: it is {item['status']}{who} now"
