"""The forms of the Admin screen, one per change: which fields, and which engine calls
saving makes. Every change goes through the engine (which checks it and records it in the
audit log); a refusal keeps the form open with its message (see admin_form.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchyard.engine.errors import SwitchyardError
from switchyard.engine.people.views import GroupView, RightView, SecSpecView, UserView
from switchyard.engine.vocabulary import ALL_PROCESSES, LICENCES, SUBJECT_GROUP, SUBJECT_USER
from switchyard.tui.screens.admin_form import AdminForm, Field, Values, split_names

if TYPE_CHECKING:
    from switchyard.engine.api import Engine

FLAGS = {"launch": "start it", "view": "see its runs", "manage": "cancel, retry, skip"}
ADMIN_HINT = "users, rights, secrets, lanes"
LIST_HINT = "comma-separated (optional)"


def right_key(process: str, kind: str, subject: str) -> str:
    """The row key of a right in the Rights table."""
    return "\t".join((process, kind, subject))


# ------------------------------------------------------------------ users
def add_user(engine: Engine) -> AdminForm:
    fields = [
        Field("login", "login", placeholder="OS login, e.g. alice"),
        Field("name", "name", placeholder="full name (optional)"),
        Field("licence", "licence", "choice", "direct", LICENCES),
        Field("admin", "admin", "check", False, placeholder=ADMIN_HINT),
        Field("roles", "roles", placeholder=LIST_HINT),
    ]

    async def save(v: Values) -> None:
        await engine.add_user(
            v["login"],
            name=v["name"] or None,
            licence=v["licence"],
            admin=v["admin"],
            roles=split_names(v["roles"]),
        )

    return AdminForm(
        "Add user",
        fields,
        save,
        done=lambda v: f"user {v['login']} added",
        key_of=lambda v: v["login"],
    )


def edit_user(engine: Engine, user: UserView) -> AdminForm:
    fields = [
        Field("name", "name", value=user.name or "", placeholder="full name (optional)"),
        Field("licence", "licence", "choice", user.licence, LICENCES),
        Field("admin", "admin", "check", user.admin, placeholder=ADMIN_HINT),
        Field("roles", "roles", value=", ".join(user.roles), placeholder=LIST_HINT),
    ]

    async def save(v: Values) -> None:
        changed: dict[str, Any] = {}
        if v["name"] != (user.name or ""):
            changed["name"] = v["name"]
        if v["licence"] != user.licence:
            changed["licence"] = v["licence"]
        if v["admin"] != user.admin:
            changed["admin"] = v["admin"]
        if split_names(v["roles"]) != user.roles:
            changed["roles"] = split_names(v["roles"])
        if changed:
            await engine.set_user(user.login, **changed)

    return AdminForm(f"Edit user {user.login}", fields, save, done=f"user {user.login} saved")


# ----------------------------------------------------------------- groups
def add_group(engine: Engine) -> AdminForm:
    async def save(v: Values) -> None:
        await engine.add_group(v["name"])

    fields = [Field("name", "name", placeholder="e.g. ops")]
    return AdminForm(
        "Add group",
        fields,
        save,
        done=lambda v: f"group {v['name']} added",
        key_of=lambda v: v["name"],
    )


def edit_members(engine: Engine, group: GroupView) -> AdminForm:
    """The members as one comma-separated list: added and removed to match it."""
    fields = [Field("members", "members", value=", ".join(group.members), placeholder="logins")]

    async def save(v: Values) -> None:
        wanted = split_names(v["members"])
        known = {u.login for u in await engine.users()}
        unknown = [login for login in wanted if login not in known]
        if unknown:  # checked before any change, so a refusal changes nothing
            raise SwitchyardError("members", f"unknown user '{unknown[0]}'")
        for login in wanted:
            if login not in group.members:
                await engine.add_member(group.name, login)
        for login in group.members:
            if login not in wanted:
                await engine.remove_member(group.name, login)

    return AdminForm(
        f"Members of {group.name}", fields, save, done=f"members of {group.name} saved"
    )


def add_member(
    engine: Engine, group: str | None, login: str | None, choices: list[str]
) -> AdminForm:
    """Add ``login`` to a group chosen from ``choices``, or a user chosen to ``group``."""
    pick = "group" if group is None else "login"
    field = Field(pick, "group" if group is None else "user", "choice", choices[0], tuple(choices))

    async def save(v: Values) -> None:
        await engine.add_member(group or v["group"], login or v["login"])

    if group is None:
        return AdminForm(
            f"Add {login} to a group",
            [field],
            save,
            done=lambda v: f"{login} added to {v['group']}",
        )
    return AdminForm(
        f"Add a member to {group}", [field], save, done=lambda v: f"{v['login']} added to {group}"
    )


def remove_member(
    engine: Engine, group: str | None, login: str | None, choices: list[str]
) -> AdminForm:
    pick = "group" if group is None else "login"
    field = Field(pick, "group" if group is None else "user", "choice", choices[0], tuple(choices))

    async def save(v: Values) -> None:
        await engine.remove_member(group or v["group"], login or v["login"])

    if group is None:
        return AdminForm(
            f"Remove {login} from a group",
            [field],
            save,
            done=lambda v: f"{login} removed from {v['group']}",
        )
    return AdminForm(
        f"Remove a member of {group}",
        [field],
        save,
        done=lambda v: f"{v['login']} removed from {group}",
    )


# ----------------------------------------------------------------- rights
def grant(engine: Engine) -> AdminForm:
    fields = [
        Field("process", "process", placeholder=f"a process or schedule, {ALL_PROCESSES} for all"),
        Field("subject", "subject", placeholder="a login or a group name"),
        Field("kind", "kind", "choice", SUBJECT_USER, (SUBJECT_USER, SUBJECT_GROUP)),
        *(Field(flag, flag, "check", False, placeholder=hint) for flag, hint in FLAGS.items()),
    ]

    async def save(v: Values) -> None:
        await engine.grant(
            v["process"],
            v["subject"],
            launch=v["launch"],
            view=v["view"],
            manage=v["manage"],
            kind=v["kind"],
        )

    return AdminForm(
        "Grant rights",
        fields,
        save,
        done=lambda v: f"rights on {v['process']} granted to {v['subject']}",
        key_of=lambda v: right_key(v["process"], v["kind"], v["subject"]),
    )


def edit_right(engine: Engine, right: RightView) -> AdminForm:
    """Tick and untick launch / view / manage: grants what was added, revokes the rest."""
    held = {"launch": right.launch, "view": right.view, "manage": right.manage}
    fields = [Field(f, f, "check", held[f], placeholder=hint) for f, hint in FLAGS.items()]

    async def save(v: Values) -> None:
        added = {f: True for f in FLAGS if v[f] and not held[f]}
        taken = {f: True for f in FLAGS if held[f] and not v[f]}
        if added:
            await engine.grant(right.process, right.subject, kind=right.kind, **added)
        if taken:
            await engine.revoke(right.process, right.subject, kind=right.kind, **taken)

    title = f"Rights of {right.kind} {right.subject} on {right.process}"
    return AdminForm(
        title,
        fields,
        save,
        note="none ticked: the right is revoked",
        done=f"rights of {right.subject} on {right.process} saved",
    )


# --------------------------------------------------------- security specs
def _spec_fields(spec: SecSpecView | None) -> list[Field]:
    return [
        Field("users", "users", value=", ".join(spec.users) if spec else "", placeholder="logins"),
        Field("groups", "groups", value=", ".join(spec.groups) if spec else "", placeholder=LIST_HINT),
        Field("roles", "roles", value=", ".join(spec.roles) if spec else "", placeholder=LIST_HINT),
    ]  # fmt: skip


def add_secspec(engine: Engine) -> AdminForm:
    fields = [Field("name", "name", placeholder="e.g. payroll"), *_spec_fields(None)]

    async def save(v: Values) -> None:
        await engine.add_secspec(
            v["name"],
            users=split_names(v["users"]),
            groups=split_names(v["groups"]),
            roles=split_names(v["roles"]),
        )

    return AdminForm(
        "Add security spec",
        fields,
        save,
        done=lambda v: f"security spec {v['name']} added",
        key_of=lambda v: v["name"],
    )


def edit_secspec(engine: Engine, spec: SecSpecView) -> AdminForm:
    async def save(v: Values) -> None:
        await engine.set_secspec(
            spec.name,
            users=split_names(v["users"]),
            groups=split_names(v["groups"]),
            roles=split_names(v["roles"]),
        )

    return AdminForm(
        f"Security spec {spec.name}",
        _spec_fields(spec),
        save,
        done=f"security spec {spec.name} saved",
    )
