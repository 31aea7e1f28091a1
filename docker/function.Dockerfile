# Every emctl function image, from the shared base: a stage's (FUNCTION=<stage>, served by
# functions/main.py) or the orchestrator's (FUNCTION=orchestrator SOURCE=orchestrator/main.py).
# docker/build-images.sh builds one per line of `python -m emcore.registry images`.
ARG BASE=emctl-base:latest
FROM ${BASE}
ARG FUNCTION
ARG SOURCE=functions/main.py
# What the running container serves: Pub/Sub push deliveries to `handle`.
ENV EMCTL_FUNCTION=${FUNCTION} EMCTL_SOURCE=${SOURCE}
CMD exec functions-framework --target handle --source ${EMCTL_SOURCE} --port ${PORT:-8080}
