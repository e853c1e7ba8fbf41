# Tocsin image: one image for every role. The command picks the role:
#   web      gunicorn --config python:app.gunicorn_config 'app:create_app()'   (the default CMD;
#            its access log redacts the personal tokens in links)
#   worker   celery -A worker worker --pool solo --loglevel INFO
#   beat     celery -A worker beat --loglevel INFO             (exactly one; needs /data)
#   migrate  tocsin db upgrade
# See docker-compose.yml for the full stack and the environment variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOCSIN_DATA_DIR=/data

# Unprivileged user. /data (the Flask instance folder: Celery beat's schedule file) is owned
# by it, so a fresh named volume mounted there is writable too. The home directory is
# writable because gunicorn (>= 25.1) puts its control socket in ~/.gunicorn/ and logs an
# error when it cannot.
RUN groupadd --system --gid 10001 tocsin \
 && useradd --system --uid 10001 --gid tocsin --home-dir /home/tocsin --create-home \
        --shell /usr/sbin/nologin tocsin \
 && mkdir -p /data \
 && chown tocsin:tocsin /data

WORKDIR /srv/tocsin

# Dependencies first, in their own layer, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Only what the package needs. The code stays root-owned (read-only for the app user).
COPY app/ app/
COPY emails/ emails/
COPY worker/ worker/
RUN pip install --no-cache-dir . \
 && rm -rf build ./*.egg-info \
 && python -m compileall -q app emails worker

USER tocsin

EXPOSE 8000

CMD ["gunicorn", "--config", "python:app.gunicorn_config", "--bind", "0.0.0.0:8000", "app:create_app()"]
