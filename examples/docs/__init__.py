"""The code the documentation shows, one module per page of ``docs/``.

Every code block of ``docs/*.md`` and ``README.md`` is an excerpt of a file
under ``examples/`` (``tests/test_docs.py`` checks it). What no other example
holds lives here: ``channels.py``, ``pubsub.py``, ``presence.py``,
``longpoll.py``, ``deployment.py``, ``authentication.py``, ``testing.py``
(a pytest module), ``raw_client.py`` and ``bare_socket_app.py`` (getting
started), and ``js/``, page scripts for phoenix.js. ``tests/docs/`` runs the
Python in-process; ``tests/integration/test_docs_pages.py`` serves the apps
with uvicorn and runs the page scripts with Node and the pinned phoenix.js.
"""
