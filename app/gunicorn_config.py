"""gunicorn's settings for Tocsin's web process:

    gunicorn -c python:app.gunicorn_config 'app:create_app()'

The access log goes to standard output with every personal token redacted (``/p/[token]``):
``app.logs.GunicornLogger`` rewrites the request line, path, query, referrer and headers
before any format uses them. Other settings still come from the command line or
``GUNICORN_CMD_ARGS`` (``--workers 4``, ``--bind``).
"""

bind = "0.0.0.0:8000"
logger_class = "app.logs.GunicornLogger"
accesslog = "-"
# Files and sockets gunicorn itself creates: the app's user only (the app sets the same).
umask = 0o077
