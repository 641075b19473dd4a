"""A fleet rollout's pace, abort threshold and timeout, in the three structures AWS IoT Jobs
(`CreateJob`) and Greengrass V2 deployments (`iotJobConfiguration`) share. dadc schedules and
counts nothing itself: the service does. What dadc adds is refusing, before any request, what the
service would refuse: botocore's ParamValidator checks types and minima, and this module the
maxima and enums the model states but the validator skips, and the ranges only the API
reference states."""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any

from dadc.errors import InvalidParameter

# Ranges the service models do not state, from the API reference: TimeoutConfig
# ("inProgressTimeoutInMinutes ... The timeout interval can be anywhere between 1 minute and 7
# days (1 to 10080 minutes)"), and iot's JobExecutionsRolloutConfig, whose model states only the
# minimum ("maximumPerMinute ... Valid Range: Minimum value of 1. Maximum value of 1000.").
REFERENCE_RANGES = {"inProgressTimeoutInMinutes": (1, 10080), "maximumPerMinute": (1, 1000)}
# Every kind of failed execution counts toward the abort: a device whose gate failed reports
# FAILED, one that never answered TIMED_OUT, one that refused the document REJECTED.
ABORT_FAILURE_TYPE = "ALL"
_EXPONENTIAL = re.compile(r"(\d+),(\d+(?:\.\d+)?),(notified|succeeded):(\d+)")


@dataclass(frozen=True)
class Rollout:
    rate: int | None = None  # things notified per minute (the maximum, with exponential)
    exponential: tuple[int, float, str, int] | None = None  # base rate, factor, criterion, its count
    abort_percent: float | None = None
    abort_min: int | None = None
    timeout_minutes: int | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.rate, self.exponential, self.abort_percent, self.abort_min,
                                            self.timeout_minutes))

    def configuration(self) -> dict[str, Any]:
        """The rollout, abort and timeout members (IoT Jobs and iotJobConfiguration spell them alike)."""
        out: dict[str, Any] = {}
        rollout: dict[str, Any] = {}
        if self.rate is not None:
            rollout["maximumPerMinute"] = self.rate
        if self.exponential is not None:
            base, factor, criterion, count = self.exponential
            key = "numberOfNotifiedThings" if criterion == "notified" else "numberOfSucceededThings"
            rollout["exponentialRate"] = {"baseRatePerMinute": base, "incrementFactor": factor,
                                          "rateIncreaseCriteria": {key: count}}
        if rollout:
            out["jobExecutionsRolloutConfig"] = rollout
        if self.abort_percent is not None:
            out["abortConfig"] = {"criteriaList": [{
                "failureType": ABORT_FAILURE_TYPE, "action": "CANCEL",
                "thresholdPercentage": self.abort_percent, "minNumberOfExecutedThings": self.abort_min}]}
        if self.timeout_minutes is not None:
            out["timeoutConfig"] = {"inProgressTimeoutInMinutes": self.timeout_minutes}
        return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=int, metavar="N", help="things notified per minute (1-1000; with "
                   "--exponential, its maximum)")
    p.add_argument("--exponential", metavar="BASE,FACTOR,notified|succeeded:N", help="start at BASE things per "
                   "minute and multiply the rate by FACTOR (1-5) each time N more things were notified (or succeeded)")
    p.add_argument("--abort-failed-percent", type=float, metavar="P", help="cancel the rollout when P%% of the "
                   "executed things failed (FAILED, REJECTED or TIMED_OUT) ...")
    p.add_argument("--abort-min-executed", type=int, metavar="N", help="... once at least N things have executed")
    p.add_argument("--timeout-minutes", type=int, metavar="M", help="a device that has not reported within M "
                   "minutes (1-10080) is TIMED_OUT")


def from_arguments(args: argparse.Namespace) -> Rollout:
    exponential = None
    if args.exponential is not None:
        m = _EXPONENTIAL.fullmatch(args.exponential)
        if not m:
            raise InvalidParameter(f"--exponential {args.exponential!r}: give BASE,FACTOR,notified:N or "
                                   "BASE,FACTOR,succeeded:N (e.g. 10,2,succeeded:20)")
        exponential = (int(m[1]), float(m[2]), m[3], int(m[4]))
    if (args.abort_failed_percent is None) != (args.abort_min_executed is None):
        raise InvalidParameter("--abort-failed-percent and --abort-min-executed go together: the service "
                               "judges the share only once that many things have executed")
    if args.abort_failed_percent is not None and not args.abort_failed_percent > 0:
        raise InvalidParameter(f"--abort-failed-percent {args.abort_failed_percent:g}: more than 0, at most 100")
    return Rollout(args.rate, exponential, args.abort_failed_percent, args.abort_min_executed, args.timeout_minutes)


_OPTION = {"maximumPerMinute": "--rate", "baseRatePerMinute": "--exponential BASE",
           "incrementFactor": "--exponential FACTOR", "numberOfNotifiedThings": "--exponential notified:N",
           "numberOfSucceededThings": "--exponential succeeded:N", "thresholdPercentage": "--abort-failed-percent",
           "minNumberOfExecutedThings": "--abort-min-executed", "inProgressTimeoutInMinutes": "--timeout-minutes"}


def check(service: str, operation: str, member: str | None, value: dict[str, Any]) -> None:
    """value as `operation`'s input (or its member `member`) takes it: ParamValidator, then every
    min, max and enum of the model and the API reference's ranges, each refusal naming the option."""
    from botocore.session import get_session
    from botocore.validate import ParamValidator
    shape = get_session().get_service_model(service).operation_model(operation).input_shape
    if member is not None:
        shape = shape.members[member]
    _walk(shape, value)  # first: its refusals name the option
    report = ParamValidator().validate(value, shape)
    if report.has_errors():
        raise InvalidParameter(f"{service} {operation}: {report.generate_report()}")


# botocore's patterns in Java's syntax, as Python's re reads them (\p{C}: control and format characters)
_PATTERNS = {r"[^\p{C}]+": r"[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]+",
             r"[\p{Upper}\p{Digit}_]+": r"[A-Z0-9_]+"}


def _walk(shape: Any, value: Any, name: str = "") -> None:
    """Every min, max, pattern and enum of shape, on value and its members."""
    meta = shape.metadata
    if shape.type_name in ("integer", "long", "double", "float") and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        low, high = REFERENCE_RANGES.get(name, (meta.get("min"), meta.get("max")))
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"{low if low is not None else '...'}-{high if high is not None else '...'}"
            raise InvalidParameter(f"{_OPTION.get(name, name)} {value:g}: the service takes {span}")
    elif shape.type_name == "string" and isinstance(value, str):
        if meta.get("enum") and value not in meta["enum"]:
            raise InvalidParameter(f"{name} {value!r}: one of {', '.join(meta['enum'])}")
        if meta.get("max") is not None and len(value) > meta["max"]:
            raise InvalidParameter(f"{name}: {len(value)} characters; the service takes at most {meta['max']}")
        pattern = _PATTERNS.get(meta.get("pattern") or "", meta.get("pattern"))
        if pattern and "\\p{" not in pattern and not re.fullmatch(pattern.strip("^$"), value):
            raise InvalidParameter(f"{name} {value[:80]!r}: does not match the service's pattern {meta['pattern']}")
    elif shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                _walk(shape.members[key], item, key)
    elif shape.type_name == "list" and isinstance(value, list):
        if meta.get("max") is not None and len(value) > meta["max"]:
            raise InvalidParameter(f"{name}: {len(value)} items; the service takes at most {meta['max']}")
        for item in value:
            _walk(shape.member, item, name)
    elif shape.type_name == "map" and isinstance(value, dict):
        if meta.get("max") is not None and len(value) > meta["max"]:
            raise InvalidParameter(f"{name}: {len(value)} entries; the service takes at most {meta['max']}")
        for key, item in value.items():
            _walk(shape.key, key, f"{name} key")
            _walk(shape.value, item, f"{name}[{key}]")
