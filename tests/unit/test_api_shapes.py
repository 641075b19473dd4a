"""dadc's shape verdicts agree with botocore's own ParamValidator (what the AWS CLI and boto3 check
before any request is sent) over many generated documents of each shape a definition can take."""
from __future__ import annotations

from typing import Any

import botocore.session
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dadc.validation import apishape

SHAPE_RULES = {"E0005", "E0006", "E0007", "E1001", "E1002", "E1007", "E3001", "E3002"}
ARN = "arn:aws:greengrass:us-west-2::/connectors/SNS/versions/1"  # another connector: only shapes apply

ODD = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5) | st.lists(st.text(max_size=3), max_size=2)
STRINGS = st.text(min_size=1, max_size=8)


def _maybe_wrong(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, good, ODD)


PARAMETERS = _maybe_wrong(st.dictionaries(STRINGS, _maybe_wrong(STRINGS), max_size=3))
CONNECTOR = _maybe_wrong(st.fixed_dictionaries(
    {}, optional={"Id": _maybe_wrong(STRINGS), "ConnectorArn": _maybe_wrong(st.just(ARN)), "Parameters": PARAMETERS,
                  "Parametres": PARAMETERS, "Name": STRINGS}))
CONNECTORS = _maybe_wrong(st.lists(CONNECTOR, max_size=3))
VERSION = _maybe_wrong(st.fixed_dictionaries({}, optional={"Connectors": CONNECTORS, "Version": STRINGS}))
EXTRA = st.dictionaries(st.sampled_from(["Tags", "Description", "Connector", "connectors"]), ODD, max_size=1)


def _doc(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda a, b: {**b, **a}, st.fixed_dictionaries(required, optional=optional), EXTRA)


DOCUMENTS = {
    "create-connector-definition input": _doc({"Name": _maybe_wrong(STRINGS)}, {
        "InitialVersion": VERSION, "tags": _maybe_wrong(st.dictionaries(STRINGS, _maybe_wrong(STRINGS), max_size=2)),
        "AmznClientToken": _maybe_wrong(STRINGS)}),
    "create-connector-definition-version input": _doc({"ConnectorDefinitionId": _maybe_wrong(STRINGS)}, {
        "Connectors": CONNECTORS, "AmznClientToken": _maybe_wrong(STRINGS)}),
    "connector definition version": _doc({"Connectors": CONNECTORS}, {}),
    "get-connector-definition-version output": _doc({"Definition": VERSION}, {
        "Arn": _maybe_wrong(STRINGS), "Id": _maybe_wrong(STRINGS), "Version": _maybe_wrong(STRINGS),
        "CreationTimestamp": _maybe_wrong(STRINGS), "NextToken": _maybe_wrong(STRINGS)}),
}


def _botocore_accepts(doc: dict[str, Any], kind: str) -> bool:
    report = ParamValidator().validate(doc, apishape.shape(kind))
    return not report.has_errors()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DOCUMENTS)).flatmap(lambda kind: st.tuples(st.just(kind), DOCUMENTS[kind])))
def test_dadcs_shape_verdict_is_botocores(case: tuple[str, dict[str, Any]]) -> None:
    kind, doc = case
    assert apishape.kind_of(doc) == kind
    dadc = [f for f in apishape.check(doc, kind) if f.rule in SHAPE_RULES]
    assert (not dadc) == _botocore_accepts(doc, kind), (dadc, ParamValidator().validate(
        doc, apishape.shape(kind)).generate_report())


def test_the_shapes_come_from_botocores_model() -> None:
    model = botocore.session.get_session().get_service_model("greengrass")
    assert apishape.shape("create-connector-definition input") is not None
    assert set(apishape.shape("create-connector-definition input").members) == \
        set(model.operation_model("CreateConnectorDefinition").input_shape.members)
    assert apishape.shape("create-connector-definition-version input").required_members == ["ConnectorDefinitionId"]


def test_an_unknown_key_names_the_allowed_ones_and_the_nearest() -> None:
    (finding,) = apishape.check({"Connectors": [{"Id": "a", "ConnectorArn": ARN, "Parameter": {}}]},
                                "connector definition version")
    assert finding.rule == "E0005" and finding.pointer == "/Connectors/0/Parameter"
    assert "one of ConnectorArn, Id, Parameters; did you mean Parameters?" in finding.message
