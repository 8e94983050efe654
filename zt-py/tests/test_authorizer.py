"""The Python surface over zt-core: decisions, config loaders, errors, stubs, threads."""

import ast
import inspect
import json
import pathlib

import pytest

import zt
from conftest import ISS, POLICY, config, mint

DECISION_FIELDS = {
    "decision_id", "outcome", "evaluated", "enforced", "mode", "warning", "reasons",
    "policy_reasons", "step_up", "obligations", "policy_revision", "timings_ns", "shadow",
}


@pytest.mark.parametrize(
    "name, kwargs, outcome, reasons, status",
    [
        ("allow", dict(method="GET", path="/orders/1"), "allow", [], 200),
        ("policy deny with scope", dict(method="POST", path="/orders"), "deny", ["policy_denied"], 403),
        ("step-up", dict(method="GET", path="/admin"), "step_up", ["step_up_required"], 401),
        ("resource owner", dict(method="GET", path="/doc", resource={"owner": "alice"}), "allow", [], 200),
        ("resource not owner", dict(method="GET", path="/doc", resource={"owner": "bob"}), "deny", ["policy_denied"], 403),
    ],
)
def test_outcomes_with_a_valid_token(authz, name, kwargs, outcome, reasons, status):
    d = authz.authorize(mint(), **kwargs)
    assert (d.outcome, d.reasons, d.http_status()) == (outcome, reasons, status), name
    assert d.allowed == (outcome == "allow")
    assert set(d.to_dict()) == DECISION_FIELDS
    assert json.loads(d.to_json()) == d.to_dict()
    assert d.claims["sub"] == "alice"
    assert d.policy_revision.startswith("sha256:")


def test_rejected_tokens_are_denies_never_exceptions(authz):
    cases = [
        (None, ["token_missing"], 'Bearer realm="api"'),
        ("not-a-token", ["token_malformed"], 'Bearer realm="api", error="invalid_token", error_description="token_malformed"'),
        (mint()[:-4] + "AAAA", ["token_signature_invalid"], None),
        (mint(aud="other"), ["audience_mismatch"], None),
    ]
    for token, reasons, challenge in cases:
        d = authz.authorize(token, method="GET", path="/orders/1")
        assert d.outcome == "deny" and d.reasons == reasons, (token, d)
        assert d.http_status() == 401
        assert d.claims is None
        if challenge:
            assert d.www_authenticate("api") == challenge
        problem = d.problem("api")
        assert problem["status"] == 401 and problem["reasons"] == reasons
        assert problem["decision_id"] == d.id
        if token:
            assert token not in d.to_json()


def test_step_up_challenge_and_obligations(authz):
    d = authz.authorize(mint(), method="GET", path="/admin")
    assert d.step_up == {"acr_values": "mfa", "max_age": 60}
    assert d.www_authenticate() == (
        'Bearer realm="zt", error="insufficient_user_authentication", '
        'error_description="step_up_required", acr_values="mfa", max_age=60'
    )
    ok = authz.authorize(mint(), method="GET", path="/orders/1")
    assert ok.obligations == {"response_headers": {"x-a": "1"}}
    assert ok.www_authenticate() is None and ok.problem() is None
    assert set(ok.timings) == {"token", "posture", "input", "policy", "shadow", "total"}


def test_headers_as_dict_or_pairs_and_device(authz):
    a = zt.Authorizer.from_dict(
        config(request={"headers": ["x-tenant"]}),
        policy_files={"a.rego": 'package zt.authz\nimport rego.v1\ndecision if input.request.headers["x-tenant"] == "acme"'},
    )
    t = mint()
    assert a.authorize(t, method="GET", path="/", headers={"x-tenant": "acme"}).allowed
    assert a.authorize(t, method="GET", path="/", headers=[("x-tenant", "acme")]).allowed
    assert not a.authorize(t, method="GET", path="/", headers={"x-tenant": "other"}).allowed
    d = a.authorize(t, method="GET", path="/", device={"managed": True, "assessed_at": 1})
    assert "posture_stale" in d.reasons
    a.close()


def test_wrong_types_raise_type_error_naming_the_argument(authz):
    with pytest.raises(TypeError):
        authz.authorize(5, method="GET", path="/")
    with pytest.raises(TypeError, match="headers"):
        authz.authorize(mint(), method="GET", path="/", headers={"a": 1})
    with pytest.raises(TypeError, match="device"):
        authz.authorize(mint(), method="GET", path="/", device={"managed": "yes"})
    with pytest.raises(TypeError, match="resource"):
        authz.authorize(mint(), method="GET", path="/", resource=object())
    with pytest.raises(TypeError):
        authz.authorize(mint(), path="/")  # method is required


def test_config_from_file_toml_and_dict_decide_alike(tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "authz.rego").write_text(POLICY)
    cfg = config(policy={"bundle": str(tmp_path / "policies")})
    jwk = cfg["issuers"][0]["jwks"]["keys"][0]
    toml = f"""
service = "orders"
[[issuers]]
issuer = "{ISS}"
audiences = ["api"]
algorithms = ["ES256"]
jwks = {{ keys = [{{ kty = "EC", kid = "{jwk['kid']}", crv = "P-256", x = "{jwk['x']}", y = "{jwk['y']}" }}] }}
[policy]
bundle = "policies"
[decision_log]
sink = "none"
"""
    (tmp_path / "zt.toml").write_text(toml)
    authorizers = [
        zt.Authorizer.from_file(tmp_path / "zt.toml"),
        zt.Authorizer.from_file(str(tmp_path / "zt.toml")),
        zt.Authorizer.from_toml(toml.replace('"policies"', json.dumps(str(tmp_path / "policies")))),
        zt.Authorizer.from_dict(cfg),
    ]
    t = mint()
    for a in authorizers:
        assert a.authorize(t, method="GET", path="/orders/1").allowed
        assert a.authorize(t, method="POST", path="/orders").reasons == ["policy_denied"]
        a.close()


def test_config_errors_carry_code_key_and_file(tmp_path):
    with pytest.raises(zt.ConfigError) as e:
        zt.Authorizer.from_dict(config(jwks={"ttl_s": 1}), policy_files={"a.rego": POLICY})
    assert isinstance(e.value, ValueError) and isinstance(e.value, zt.ZtError)
    assert e.value.code == "config_out_of_range" and e.value.key == "jwks.ttl_s"
    assert "30..=86400" in str(e.value)
    with pytest.raises(zt.ConfigError) as e:
        zt.Authorizer.from_dict(config(jwks={"ttl": 1}), policy_files={"a.rego": POLICY})
    assert (e.value.code, e.value.key) == ("config_parse", "jwks.ttl")
    bad = tmp_path / "zt.toml"
    bad.write_text("[[issuers]]\nissuer = 1\n")
    with pytest.raises(zt.ConfigError) as e:
        zt.Authorizer.from_file(bad)
    assert e.value.code == "config_parse" and e.value.file == str(bad)
    with pytest.raises(zt.ConfigError) as e:
        zt.Authorizer.from_dict(config())
    assert e.value.code == "no_policy"


def test_policy_errors_name_the_file():
    with pytest.raises(zt.PolicyError) as e:
        zt.Authorizer.from_dict(config(), policy_files={"broken.rego": "package zt.authz\ndecision := {"})
    assert e.value.code == "policy_parse" and e.value.file == "broken.rego"
    with pytest.raises(zt.PolicyError) as e:
        zt.Authorizer.from_dict(config(), policy_files={"a.rego": b"package other\nx := 1"})
    assert e.value.code == "policy_entrypoint_missing"


def test_unsigned_bundles_are_refused_when_signing_is_configured():
    keys = pathlib.Path(__file__).resolve().parents[2] / "zt-core" / "tests" / "data" / "keys"
    cfg = config()
    cfg["policy"] = {
        "signing": {
            "keys": [{"keyid": "release", "algorithm": "ES256", "key_file": str(keys / "ec-p256.pub.pem")}]
        }
    }
    with pytest.raises(zt.PolicyError) as e:
        zt.Authorizer.from_dict(cfg, policy_files={"authz.rego": POLICY})
    assert e.value.code == "policy_signature_invalid"
    assert e.value.details["reason"] == "missing"


def test_verify_and_token_errors(authz):
    assert authz.verify(mint(sub="carol"))["sub"] == "carol"
    with pytest.raises(zt.TokenError) as e:
        authz.verify(mint(aud="nope"))
    assert e.value.reason == "audience_mismatch" and e.value.code == "audience_mismatch"


def test_revocation_metrics_and_close(authz):
    t = mint(jti="j-1")
    assert authz.authorize(t, method="GET", path="/orders/1").allowed
    authz.revoke_token_id("j-1")
    assert authz.authorize(t, method="GET", path="/orders/1").reasons == ["token_revoked"]
    authz.revoke_subject(ISS, "bob")
    assert authz.authorize(mint(sub="bob"), method="GET", path="/orders/1").reasons == ["subject_revoked"]
    m = authz.metrics()
    assert m["decisions"] == 3 and m["by_reason"]["token_revoked"] == 1
    authz.unrevoke_token_id("j-1")
    assert authz.authorize(t, method="GET", path="/orders/1").allowed
    authz.unrevoke_subject(ISS, "bob")
    assert authz.authorize(mint(sub="bob"), method="GET", path="/orders/1").allowed
    assert "zt_decisions_total" in authz.prometheus()
    first = authz.close()
    assert first["completed"] is True
    assert authz.close()["completed"] is True  # twice is safe
    assert authz.authorize(mint(), method="GET", path="/orders/1").allowed  # still decides


def test_context_manager_and_callbackless_log(tmp_path):
    log = tmp_path / "decisions.log"
    with zt.Authorizer.from_dict(
        config(decision_log={"sink": "file", "path": str(log)}), policy_files={"a.rego": POLICY}
    ) as a:
        d = a.authorize(mint(), method="GET", path="/orders/1")
    record = json.loads(log.read_text().splitlines()[0])
    assert record["decision_id"] == d.id and record["outcome"] == "allow"


def test_stubs_match_the_runtime_module():
    stub = ast.parse((pathlib.Path(zt.__file__).parent / "_zt.pyi").read_text())
    classes = {n.name: n for n in stub.body if isinstance(n, ast.ClassDef) and n.name != "HttpAnswer"}
    assert set(classes) == {"Authorizer", "Decision"}
    for name, node in classes.items():
        runtime = getattr(zt._zt, name)
        stubbed = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
        public = {a for a in dir(runtime) if not a.startswith("_")} | ({"__enter__", "__exit__"} & set(dir(runtime)))
        assert stubbed == public, (name, stubbed ^ public)
        for f in node.body:
            if not isinstance(f, ast.FunctionDef) or any(
                isinstance(d, ast.Name) and d.id == "property" for d in f.decorator_list
            ):
                continue
            try:
                sig = inspect.signature(getattr(runtime, f.name))
            except (ValueError, TypeError):
                continue
            want = [a.arg for a in f.args.posonlyargs + f.args.args + f.args.kwonlyargs if a.arg != "self"]
            got = [p for p in sig.parameters if p not in ("self", "args")]
            if f.args.vararg is None:
                assert got == want, (name, f.name, got, want)


def test_runtime_mode_switch_and_rollout_status():
    a = zt.Authorizer.from_dict(config(), policy_files={"a.rego": "package zt.authz\ndecision := false"})
    t = mint()
    assert not a.authorize(t, method="GET", path="/").allowed
    a.set_mode("log_only")
    d = a.authorize(t, method="GET", path="/")
    assert d.allowed and d.mode == "log_only" and not d.enforced
    e = a.enforcement()
    assert (e["mode"], e["mode_source"]) == ("log_only", "override")
    with pytest.raises(ValueError):
        a.set_mode("off")
    with pytest.raises(zt.ConfigError) as err:
        a.set_canary_percent(101)
    assert err.value.code == "config_out_of_range"
    a.clear_enforcement_override()
    assert not a.authorize(t, method="GET", path="/").allowed
    assert a.rollout()["enabled"] is False and a.rollout_abort() is None
    assert a.metrics()["enforcement"]["mode"] == "enforce"
    s = a.status()
    assert s["ready"] is True and s["issuers"][0]["keys"] == 1 and s["policy"]["revision"]
    a.close()


def test_replay_flags_the_flips_of_a_candidate(tmp_path):
    log = tmp_path / "decisions.jsonl"
    allow = tmp_path / "allow"
    deny = tmp_path / "deny"
    for d, body in [(allow, "decision := true"), (deny, "decision := false")]:
        d.mkdir()
        (d / "p.rego").write_text(f"package zt.authz\n{body}\n")
    cfg = tmp_path / "zt.json"
    cfg.write_text(
        json.dumps(config(policy={"bundle": str(allow)}, decision_log={"sink": "file", "path": str(log)}))
    )
    with zt.Authorizer.from_file(str(cfg)) as a:
        for sub in ["ann", "ben"]:
            assert a.authorize(mint(sub=sub), method="GET", path="/x").allowed
    r = zt.replay(cfg, log, deny)
    assert (r["records"], r["flips"], r["by_kind"]) == (2, 2, {"allow->deny": 2})
    assert {g["key"] for g in r["groups"]["subject"]} == {"ann", "ben"}
    assert zt.replay(cfg, log, allow)["flips"] == 0
    with pytest.raises(zt.PolicyError):
        zt.replay(cfg, tmp_path / "missing.jsonl", deny)
