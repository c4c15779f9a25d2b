"""Who is who: users, security groups and their levels, as the import, the access rule and
the screens look them up (``get_user``, ``get_group``, ``user_level``; the groups a user may
file at, the users a group's messages reach).

Writing users and groups (from a records file or the command line) is ``primsync.db.people``.
"""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from primsync.db.models import AppUser, SecurityGroup
from primsync.errors import ConfigurationError

__all__ = ["get_group", "get_user", "groups_up_to", "user_group", "user_level", "viewers_of"]


def get_user(session: Session, login: str) -> AppUser:
    user = session.scalar(select(AppUser).where(AppUser.login == login))
    if user is None:
        raise ConfigurationError(f"no user with login {login!r}")
    return user


def get_group(session: Session, name: str) -> SecurityGroup:
    group = session.scalar(select(SecurityGroup).where(SecurityGroup.name == name))
    if group is None:
        names = ", ".join(session.scalars(select(SecurityGroup.name).order_by(SecurityGroup.level)))
        raise ConfigurationError(f"no security group {name!r}; the groups are: {names}")
    return group


def user_level(session: Session, user: AppUser) -> int:
    """The level of the user's security group."""
    level = session.scalar(select(SecurityGroup.level).where(SecurityGroup.id == user.group_id))
    if level is None:
        raise ConfigurationError(f"user {user.login!r} has no security group")
    return int(level)


def groups_up_to(engine: Engine, login: str) -> list[tuple[str, int]]:
    """The groups a user may file messages at (level at most the user's), lowest first."""
    with Session(engine) as session:
        level = user_level(session, get_user(session, login))
        rows = session.execute(
            select(SecurityGroup.name, SecurityGroup.level)
            .where(SecurityGroup.level <= level)
            .order_by(SecurityGroup.level, SecurityGroup.name)
        ).all()
    return [(str(n), int(lv)) for n, lv in rows]


def user_group(engine: Engine, login: str) -> str:
    """The name of the user's own security group: the least-privilege default of "Accessible to"
    (the smallest audience that still lets the user's own team see the message)."""
    with Session(engine) as session:
        user = get_user(session, login)
        name = session.scalar(select(SecurityGroup.name).where(SecurityGroup.id == user.group_id))
    if name is None:
        raise ConfigurationError(f"user {login!r} has no security group")
    return str(name)


def viewers_of(engine: Engine, group: str) -> list[str]:
    """Names of the users who will see a message filed at ``group`` (their level ≥ its level)."""
    with Session(engine) as session:
        level = get_group(session, group).level
        names = session.scalars(
            select(AppUser.name)
            .join(SecurityGroup, SecurityGroup.id == AppUser.group_id)
            .where(SecurityGroup.level >= level)
            .order_by(AppUser.name)
        )
        return list(names)
