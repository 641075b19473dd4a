"""The dadc style's lifecycle: dadc itself on the device, doing exactly what the version did.

Install makes a venv from the component's artifacts (dadc's wheel, and with --wheelhouse every
wheel it needs): no package index is used unless the export says so (--device-index), and the
install is marked done only when it is whole, so one that stopped half-way is done again at the
next start (Skipif reads the mark, not a file the first pip step leaves). Startup is `dadc deploy`:
its exit decides the deployment, within a Timeout that covers every limit dadc plans. Shutdown is
`dadc stop` (the version's stop sequence); Uninstall stops the application whatever
StopContainersOnNewDeployment says."""
from __future__ import annotations

from dadc.ggv2.inputs import Inputs

MARK = ".dadc-installed"


def venv(dadc_version: str) -> str:
    return "{work:path}/venv-" + dadc_version


def skipif(dadc_version: str) -> str:
    return f"exists {venv(dadc_version)}/{MARK}"


def setenv() -> dict[str, str]:
    return {"DADC_PARAMETERS": "{configuration:/Parameters}", "DADC_CONNECTOR": "{configuration:/ConnectorArn}",
            "DADC_OPTIONS": "{configuration:/DadcOptions}", "DADC_THING_NAME": "{iot:thingName}"}


def install(wheel: str, dadc_version: str, wheelhouse: bool, device_index: bool) -> str:
    """A venv that sees the device's Python packages (a distro's python3-boto3 counts); dadc's
    requirements from the artifacts (--wheelhouse), else the device's own packages, else (only with
    --device-index) its package index. pip check says what is missing before anything runs."""
    v = venv(dadc_version)
    pip = f'"{v}/bin/python" -m pip install --disable-pip-version-check -q'
    # dadc itself always into the venv: a dadc the device's Python already has (any version) would
    # otherwise satisfy pip through --system-site-packages, and the venv would run that one
    get = f'{pip} --no-index --no-deps --force-reinstall "{{artifacts:path}}/{wheel}"'
    if wheelhouse:
        get += f'\n{pip} --no-index --find-links "{{artifacts:path}}" "{{artifacts:path}}/{wheel}"'
    elif device_index:
        get += f'\n{pip} "{{artifacts:path}}/{wheel}"'
    return (f'set -eu\nrm -rf "{v}"\npython3 -m venv --system-site-packages "{v}"\n{get}\n'
            f'# what dadc requires and this Python lacks, named before anything runs\n'
            f'if "{v}/bin/python" -m pip check --disable-pip-version-check 2>&1 | grep "^dadc " >&2; then\n'
            f'  echo "dadc needs these on the device: install them (e.g. python3-boto3, python3-yaml, '
            f'python3-paho-mqtt >= 2) or export with --wheelhouse" >&2\n  exit 1\nfi\n'
            f'touch "{v}/{MARK}"\n')


def step(name: str, dadc_version: str) -> str:
    """One lifecycle step: dadc's own module turns the configuration into the dadc command."""
    return f'exec "{venv(dadc_version)}/bin/python" -m dadc.ggv2.lifecycle {name} "{{work:path}}"\n'


def startup(dadc_version: str) -> str:
    return step("startup", dadc_version)


def shutdown(dadc_version: str) -> str:
    return step("shutdown", dadc_version)


def uninstall(inputs: Inputs, dadc_version: str) -> str:
    return step("uninstall", dadc_version)
