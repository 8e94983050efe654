"""`zt.report(...)`: the same report as `zt report`, as a dict, on a log an authorizer wrote."""

import gzip
import json

import pytest

import zt
from conftest import POLICY, config, mint


def test_report_on_a_log_the_authorizer_wrote(tmp_path):
    log = tmp_path / "decisions.log"
    authz = zt.Authorizer.from_dict(
        config(decision_log={"sink": "hash_chained_file", "path": str(log)}),
        policy_files={"authz.rego": POLICY},
    )
    for path in ["/orders/1", "/orders/2", "/admin"]:
        authz.authorize(mint(), method="GET", path=path)
    authz.authorize(None, method="GET", path="/orders/3")
    authz.close()

    r = zt.report([log])
    assert r["decisions"] == 4
    assert r["outcomes"] == {"allow": 2, "deny": 1, "step_up": 1}
    assert r["deny_rate"] == 0.25
    assert r["chain"] == {"verified": True, "records": 4}
    routes = {(x["method"], x["route"]): x["count"] for x in r["routes"]}
    assert routes[("GET", "/orders/{n}")] == 3
    assert {"code": "token_missing", "count": 1} in r["token_failures"]
    assert set(r["latency_us"]) == {"p50", "p95", "p99", "max"}
    assert "least_privilege" in r and r["least_privilege"] is None

    # Rotated and compressed: the same records.
    gz = tmp_path / "decisions.log.1.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    assert zt.report([str(gz)])["decisions"] == 4
    assert zt.report([gz], since="2100-01-01")["decisions"] == 0
    with pytest.raises(ValueError, match="since"):
        zt.report([log], since="soon")
    with pytest.raises(zt.ZtError) as e:
        zt.report([tmp_path / "missing.log"])
    assert e.value.code == "report_io"
    json.dumps(r)
