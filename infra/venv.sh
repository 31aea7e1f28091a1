# Sourced by test.sh and deploy.sh: make infra/.venv (pulumi pins protobuf<7, so infra has its
# own environment) and install the pinned requirements, once per change of requirements.txt.
PYTHON=${PYTHON:-python3}
VENV=${INFRA_VENV:-.venv}
ensure_venv() {
  if [ ! -f "$VENV/.installed" ] || [ requirements.txt -nt "$VENV/.installed" ]; then
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt "pytest==9.2.0"
    touch "$VENV/.installed"
  fi
}
