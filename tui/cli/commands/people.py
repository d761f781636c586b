"""Command-line verbs for people: users, groups and members, rights per process, security
specifications, whoami and the audit log. Merged into the root app by tui/cli/registry.py.

Changing people, rights and specs needs the admin right; a refusal prints one line naming
what is missing and exits 4."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from switchyard.tui import formatting as fmt
from switchyard.tui.cli.root import JsonOption, emit_json, fail, run

if TYPE_CHECKING:
    from switchyard.engine.people.views import RightView

area = typer.Typer()  # merged into the root app by tui/cli/registry.py

user_app = typer.Typer(help="Users: OS logins with a licence, an admin flag and roles.")
group_app = typer.Typer(help="Groups: work items go to them; rights and specs name them.")
member_app = typer.Typer(help="Members of a group.")
right_app = typer.Typer(help="Rights per process (or '*'): launch, view, manage.")
secspec_app = typer.Typer(help="Security specs: who may see variables tied to them.")
area.add_typer(user_app, name="user")
area.add_typer(group_app, name="group")
group_app.add_typer(member_app, name="member")
area.add_typer(right_app, name="right")
area.add_typer(secspec_app, name="secspec")

LICENCE_HELP = "direct | group | monitor | designer (cumulative)"
KindOption = Annotated[
    str | None, typer.Option("--kind", help="user | group, when a name is both.")
]
LaunchOption = Annotated[bool, typer.Option("--launch", help="Start it.")]
ViewOption = Annotated[bool, typer.Option("--view", help="See its instances.")]
ManageOption = Annotated[bool, typer.Option("--manage", help="Cancel, retry, skip.")]


def _list(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _csv(values: list[str]) -> str:
    return ",".join(values) or "-"


# ------------------------------------------------------------------ users
@user_app.command("add")
def user_add(
    login: str,
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    licence: Annotated[str, typer.Option(help=LICENCE_HELP)] = "direct",
    admin: Annotated[bool, typer.Option("--admin", help="Users, rights, secrets, lanes.")] = False,
    role: Annotated[list[str] | None, typer.Option("--role", help="A role (repeatable).")] = None,
) -> None:
    """Add a user (an OS login; no password is stored)."""
    view = run(lambda e: e.add_user(login, name, licence, admin, _list(role)))
    typer.echo(f"user {view.login}: {view.licence}" + (", admin" if view.admin else ""))


@user_app.command("set")
def user_set(
    login: str,
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    licence: Annotated[str | None, typer.Option(help=LICENCE_HELP)] = None,
    admin: Annotated[
        bool | None, typer.Option("--admin/--no-admin", help="Grant or take the admin flag.")
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Replace the roles (repeatable).")
    ] = None,
) -> None:
    """Change a user's name, licence, admin flag or roles."""
    roles = _list(role) if role is not None else None
    view = run(lambda e: e.set_user(login, name=name, licence=licence, admin=admin, roles=roles))
    typer.echo(f"user {view.login}: {view.licence}" + (", admin" if view.admin else ""))


@user_app.command("remove")
def user_remove(login: str) -> None:
    """Remove a user, their group memberships and their rights."""
    run(lambda e: e.remove_user(login))
    typer.echo(f"user {login} removed")


@user_app.command("list")
def user_list(as_json: JsonOption = False) -> None:
    """Users with their licence, admin flag, roles and groups."""
    views = run(lambda e: e.users())
    if as_json:
        return emit_json(views)
    rows = [
        [
            v.login,
            v.name or "-",
            v.licence,
            "yes" if v.admin else "-",
            _csv(v.roles),
            _csv(v.groups),
        ]
        for v in views
    ]
    typer.echo(fmt.table(["LOGIN", "NAME", "LICENCE", "ADMIN", "ROLES", "GROUPS"], rows))


@area.command()
def whoami(as_json: JsonOption = False) -> None:
    """Who Switchyard takes you for: login, licence, admin, groups, roles."""
    me = run(lambda e: e.identity())
    if as_json:
        return emit_json(me)
    via = f" via {me.via} (OS account {me.os_login})" if me.via else ""
    acting = f" ({me.real_login}{via} acting as {me.login})" if me.real_login else via
    typer.echo(f"{me.login}{acting}: {me.name or '-'}")
    typer.echo(f"licence: {me.licence}{', admin' if me.admin else ''}")
    typer.echo(f"groups:  {', '.join(me.groups) or '-'}")
    typer.echo(f"roles:   {', '.join(me.roles) or '-'}")


# ----------------------------------------------------------------- groups
@group_app.command("add")
def group_add(name: str) -> None:
    """Add a group."""
    run(lambda e: e.add_group(name))
    typer.echo(f"group {name}")


@group_app.command("remove")
def group_remove(name: str) -> None:
    """Remove a group, its memberships and its rights."""
    run(lambda e: e.remove_group(name))
    typer.echo(f"group {name} removed")


@group_app.command("list")
def group_list(as_json: JsonOption = False) -> None:
    """Groups and their members."""
    views = run(lambda e: e.groups())
    if as_json:
        return emit_json(views)
    typer.echo(fmt.table(["GROUP", "MEMBERS"], [[g.name, _csv(g.members)] for g in views]))


@member_app.command("add")
def member_add(group: str, login: str) -> None:
    """Add a user to a group."""
    view = run(lambda e: e.add_member(group, login))
    typer.echo(f"group {view.name}: {', '.join(view.members)}")


@member_app.command("remove")
def member_remove(group: str, login: str) -> None:
    """Take a user out of a group."""
    view = run(lambda e: e.remove_member(group, login))
    typer.echo(f"group {view.name}: {', '.join(view.members) or 'no members'}")


# ----------------------------------------------------------------- rights
def _flags(view: RightView | None) -> str:
    if view is None:
        return "none"
    held = [r for r in ("launch", "view", "manage") if getattr(view, r)]
    return ", ".join(held) or "none"


@right_app.command("grant")
def right_grant(
    process: Annotated[str, typer.Argument(help="A process, a command schedule, or '*'.")],
    subject: Annotated[str, typer.Argument(help="A user login or a group name.")],
    launch: LaunchOption = False,
    view: ViewOption = False,
    manage: ManageOption = False,
    kind: KindOption = None,
) -> None:
    """Grant rights on a process to a user or a group (held rights stay)."""
    if not (launch or view or manage):
        fail("right: say which: --launch, --view and/or --manage")
    right = run(
        lambda e: e.grant(process, subject, launch=launch, view=view, manage=manage, kind=kind)
    )
    typer.echo(f"{right.kind} {right.subject} on {right.process}: {_flags(right)}")


@right_app.command("revoke")
def right_revoke(
    process: Annotated[str, typer.Argument(help="A process, a command schedule, or '*'.")],
    subject: Annotated[str, typer.Argument(help="A user login or a group name.")],
    launch: LaunchOption = False,
    view: ViewOption = False,
    manage: ManageOption = False,
    kind: KindOption = None,
) -> None:
    """Revoke rights (all of them when none is named)."""
    left = run(
        lambda e: e.revoke(process, subject, launch=launch, view=view, manage=manage, kind=kind)
    )
    typer.echo(f"{subject} on {process}: {_flags(left)}")


@right_app.command("list")
def right_list(
    process: Annotated[
        str | None, typer.Argument(help="Only rights that apply to this process.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rights per process and subject."""
    views = run(lambda e: e.rights(process))
    if as_json:
        return emit_json(views)
    rows = [
        [
            v.process,
            v.kind,
            v.subject,
            "yes" if v.launch else "-",
            "yes" if v.view else "-",
            "yes" if v.manage else "-",
        ]
        for v in views
    ]
    typer.echo(fmt.table(["PROCESS", "KIND", "SUBJECT", "LAUNCH", "VIEW", "MANAGE"], rows))


# ------------------------------------------------------------- secspecs
UsersOption = Annotated[list[str] | None, typer.Option("--users", help="Logins: a,b")]
GroupsOption = Annotated[list[str] | None, typer.Option("--groups", help="Groups: g,h")]
RolesOption = Annotated[list[str] | None, typer.Option("--roles", help="Roles: r,s")]


@secspec_app.command("add")
def secspec_add(
    name: str,
    users: UsersOption = None,
    groups: GroupsOption = None,
    roles: RolesOption = None,
) -> None:
    """Add a security spec: variables with `security: NAME` are masked for everyone else."""
    view = run(lambda e: e.add_secspec(name, _list(users), _list(groups), _list(roles)))
    typer.echo(
        f"secspec {view.name}: users {_csv(view.users)}; groups {_csv(view.groups)}; "
        f"roles {_csv(view.roles)}"
    )


@secspec_app.command("set")
def secspec_set(
    name: str,
    users: UsersOption = None,
    groups: GroupsOption = None,
    roles: RolesOption = None,
) -> None:
    """Replace a security spec's users, groups and roles."""
    view = run(lambda e: e.set_secspec(name, _list(users), _list(groups), _list(roles)))
    typer.echo(
        f"secspec {view.name}: users {_csv(view.users)}; groups {_csv(view.groups)}; "
        f"roles {_csv(view.roles)}"
    )


@secspec_app.command("remove")
def secspec_remove(name: str) -> None:
    """Remove a security spec (variables still tied to it are masked for everyone)."""
    run(lambda e: e.remove_secspec(name))
    typer.echo(f"secspec {name} removed")


@secspec_app.command("list")
def secspec_list(as_json: JsonOption = False) -> None:
    """Security specs with their users, groups and roles."""
    views = run(lambda e: e.secspecs())
    if as_json:
        return emit_json(views)
    rows = [[s.name, _csv(s.users), _csv(s.groups), _csv(s.roles)] for s in views]
    typer.echo(fmt.table(["SECSPEC", "USERS", "GROUPS", "ROLES"], rows))


# ------------------------------------------------------------------ audit
@area.command()
def audit(
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The audit log: impersonation, refusals, changes to people and rights (admins)."""
    views = run(lambda e: e.audit(limit=limit))
    if as_json:
        return emit_json(views)
    rows = [
        [
            fmt.when(v.at),
            v.who,
            v.action,
            v.target or "-",
            str(v.detail.get("why") or ", ".join(f"{k}={x}" for k, x in v.detail.items())),
        ]
        for v in views
    ]
    typer.echo(fmt.table(["AT", "WHO", "ACTION", "TARGET", "DETAIL"], rows))
