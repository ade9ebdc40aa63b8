"""The tables, as SQLAlchemy 2 models; ``migrations/`` creates and changes them.

Times are stored as naive UTC (SQLite keeps no zone) and written out in ISO
8601 with a ``Z``. Usernames and room names are unique case-insensitively,
through a lower-cased ``*_key`` column that carries the unique index.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

USERNAME_MAX = 32
ROOM_NAME_MAX = 64


def utc_now() -> datetime:
    """Now, as the naive UTC time the tables store."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso_utc(moment: datetime) -> str:
    """A stored (naive UTC) time in ISO 8601: ``2026-01-02T03:04:05.678901Z``."""
    return moment.isoformat(timespec="microseconds") + "Z"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    inserted_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(ROOM_NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(ROOM_NAME_MAX), unique=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    inserted_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class Membership(Base):
    __tablename__ = "memberships"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    inserted_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("messages_room_id_id", "room_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    inserted_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
