"""The game served over HTTP, for language-model and remote agents.

One side of a game is played by the remote caller; the other by a scripted
baseline from :mod:`agents.registry` or by a player of a league run restored
without Ray. The package lives in ``league`` because it restores league
players; the client, which needs none of this, is :mod:`smartpay_marl.client`.

- :mod:`league.serving.schemas`: request and reply models (the HTTP contract).
- :mod:`league.serving.opponents`: scripted and league opponents, restored once per server.
- :mod:`league.serving.sessions`: one game per session, with a lock each, limits in all and per client, reclaiming and idle expiry.
- :mod:`league.serving.logs`: the ``--logs`` guard on a session's transaction log path.
- :mod:`league.serving.errors`: the errors handlers raise, each with its HTTP status.
- :mod:`league.serving.app`: the FastAPI application factory.
- :mod:`league.serving.cli`: ``smartpay-marl serve``.

Importing this package imports neither FastAPI nor uvicorn; only
:mod:`league.serving.app` and the ``serve`` command's ``main`` do.
"""
