# Shared base of every emctl function image: the pinned Python and the project's pinned runtime
# dependencies (pyproject.toml, no test extras). Function images add only their entry point.
FROM python:3.11.7-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml ./
COPY emcore ./emcore
COPY functions ./functions
COPY orchestrator ./orchestrator
COPY gpu-jobs ./gpu-jobs
# meshoptimizer ships only as source: the compiler is installed for the build and removed after.
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
 && pip install --no-compile . \
 && apt-get purge -y g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --no-create-home emctl
USER emctl
