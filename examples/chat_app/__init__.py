"""The reference chat app (shared/conformance/CHAT_API.md): accounts, rooms, live messages."""
