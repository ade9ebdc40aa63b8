"""The database: engine, migrations at start, and every query the app makes.

``ChatStore.connect(url)`` then ``prepare()`` connect (SQLite through aiosqlite, PostgreSQL through
asyncpg), runs the Alembic migrations up to head and makes sure the ``lobby``
room exists. The methods answer with the JSON shapes of CHAT_API.md (``user``,
``room``, ``message`` dicts), so the HTTP API and the channels send them as they are.
On PostgreSQL the migrations run under an advisory lock, so that instances
starting together migrate once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from .schema import Membership, Message, Room, User, iso_utc
from .settings import async_database_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOBBY = "lobby"
#: Any constant shared by the instances: the key of the migration advisory lock.
MIGRATION_LOCK_KEY = 0x43484154

JSON = dict[str, Any]


def user_json(user: User) -> JSON:
    return {"id": user.id, "username": user.username}


def room_json(room: Room) -> JSON:
    return {"id": room.id, "name": room.name, "private": room.private}


def message_json(message: Message, author: JSON) -> JSON:
    return {
        "id": message.id,
        "room_id": message.room_id,
        "user": author,
        "body": message.body,
        "inserted_at": iso_utc(message.inserted_at),
    }


def _run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class ChatStore:
    """Every read and write of the app; see the module docs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, database_url: str) -> ChatStore:
        """A store on ``database_url`` (``sqlite:///PATH`` or ``postgresql://...``);
        nothing is opened before ``prepare``.

        Raises:
            ValueError: the URL is neither SQLite nor PostgreSQL.
        """
        url = async_database_url(database_url)
        if url.startswith("sqlite"):
            engine = create_async_engine(url, connect_args={"timeout": 30})
            event.listen(engine.sync_engine, "connect", _tune_sqlite)
        else:
            engine = create_async_engine(url, pool_pre_ping=True)
        return cls(engine)

    async def prepare(self) -> None:
        """Migrate to the latest schema and create the lobby (once, whoever comes first)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_run_migrations)
        await self.create_room(LOBBY, private=False, creator_id=None)

    async def close(self) -> None:
        await self.engine.dispose()

    # Users

    async def create_user(self, username: str, password_hash: str) -> JSON | None:
        """The new user, or ``None`` when the name is taken (case-insensitively)."""
        user = User(username=username, username_key=username.lower(), password_hash=password_hash)
        async with self._sessions() as session:
            session.add(user)
            try:
                await session.commit()
            except IntegrityError:
                return None
        return user_json(user)

    async def find_user(self, username: str) -> tuple[JSON, str] | None:
        """The user named ``username`` (any case) and its password hash."""
        async with self._sessions() as session:
            user = await session.scalar(select(User).where(User.username_key == username.lower()))
        return None if user is None else (user_json(user), user.password_hash)

    # Rooms

    async def create_room(self, name: str, *, private: bool, creator_id: int | None) -> JSON | None:
        """The new room, its creator a member; ``None`` when the name is taken."""
        room = Room(name=name, name_key=name.lower(), private=private)
        async with self._sessions() as session:
            session.add(room)
            try:
                await session.flush()
                if creator_id is not None:
                    session.add(Membership(room_id=room.id, user_id=creator_id))
                await session.commit()
            except IntegrityError:
                return None
        return room_json(room)

    async def get_room(self, room_id: int) -> JSON | None:
        async with self._sessions() as session:
            room = await session.get(Room, room_id)
        return None if room is None else room_json(room)

    async def room_named(self, name: str) -> JSON | None:
        """The room called ``name`` (any case), if there is one."""
        async with self._sessions() as session:
            room = await session.scalar(select(Room).where(Room.name_key == name.lower()))
        return None if room is None else room_json(room)

    async def rooms_for(self, user_id: int) -> list[JSON]:
        """The public rooms and the private rooms ``user_id`` belongs to, oldest first."""
        members = select(Membership.room_id).where(Membership.user_id == user_id)
        query = (
            select(Room).where(or_(Room.private.is_(False), Room.id.in_(members))).order_by(Room.id)
        )
        async with self._sessions() as session:
            return [room_json(room) for room in await session.scalars(query)]

    async def is_member(self, room_id: int, user_id: int) -> bool:
        async with self._sessions() as session:
            return await session.get(Membership, (room_id, user_id)) is not None

    async def can_read(self, room: JSON, user_id: int) -> bool:
        return not room["private"] or await self.is_member(room["id"], user_id)

    async def add_member(self, room_id: int, user_id: int) -> bool:
        """Add ``user_id`` to the room; ``False`` when it already was a member."""
        async with self._sessions() as session:
            session.add(Membership(room_id=room_id, user_id=user_id))
            try:
                await session.commit()
            except IntegrityError:
                return False
        return True

    # Messages

    async def insert_message(self, room_id: int, author: JSON, body: str) -> JSON:
        message = Message(room_id=room_id, user_id=author["id"], body=body)
        async with self._sessions() as session:
            session.add(message)
            await session.commit()
        return message_json(message, {"id": author["id"], "username": author["username"]})

    async def messages(
        self, room_id: int, *, before: int | None = None, limit: int = 50
    ) -> list[JSON]:
        """The last ``limit`` messages of the room (older than id ``before``), oldest first."""
        query = (
            select(Message, User)
            .join(User, Message.user_id == User.id)
            .where(Message.room_id == room_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(Message.id < before)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [message_json(message, user_json(author)) for message, author in reversed(rows)]
