package zt.authz_test

import rego.v1

import data.zt.authz

now := 1800000000

healthy := {
	"managed": true, "disk_encrypted": true, "jailbroken": false, "patch_age_days": 3,
	"assessed_at": now - 60, "age_s": 60, "source": "claims",
}

req(method, path, groups, device) := mfa_req(method, path, groups, device, ["pwd"], now - 3600)

mfa_req(method, path, groups, device, amr, auth_time) := {
	"subject": {"id": "u1", "groups": groups, "roles": [], "scopes": [], "amr": amr, "auth_time": auth_time},
	"request": {"method": method, "path": path},
	"device": device,
	"context": {"now": now},
}

test_health_is_open if {
	authz.decision.allow with input as req("GET", "/healthz", [], null)
}

test_dev_reads_orders if {
	authz.decision.allow with input as req("GET", "/orders/42", ["dev"], healthy)
}

test_viewer_cannot_post if {
	d := authz.decision with input as req("POST", "/orders", ["viewer"], healthy)
	not d.allow
	d.reasons == ["rbac_not_permitted"]
}

test_missing_device_denied if {
	d := authz.decision with input as req("GET", "/orders", ["dev"], null)
	d.reasons == ["device_posture_missing"]
}

test_unencrypted_laptop_denied if {
	d := authz.decision with input as req("GET", "/orders", ["dev"], object.union(healthy, {"disk_encrypted": false}))
	not d.allow
	d.reasons == ["disk_not_encrypted"]
}

test_admin_needs_recent_mfa if {
	d := authz.decision with input as req("POST", "/admin/deploy", ["admin"], healthy)
	not d.allow
	d.step_up.acr_values == "urn:zt:acr:mfa"
}

test_admin_with_recent_mfa_allowed if {
	r := mfa_req("POST", "/admin/deploy", ["admin"], healthy, ["pwd", "mfa"], now - 60)
	authz.decision.allow with input as r
}

test_an_allow_names_the_permission_that_allowed_it if {
	d := authz.decision with input as req("GET", "/orders/42", ["viewer", "dev"], healthy)
	d.grants == {"orders:read", "orders:write"}
	d2 := authz.decision with input as req("POST", "/orders", ["dev"], healthy)
	d2.grants == {"orders:write"}
}

test_a_deny_names_no_permission if {
	d := authz.decision with input as req("POST", "/orders", ["viewer"], healthy)
	not d.grants
}

test_entitlements_come_from_the_subject_alone if {
	e := authz.entitlements with input as {"subject": {"groups": ["admin", "viewer"]}}
	e == {"admin:all", "orders:read"}
	count(authz.entitlements) == 0 with input as {"subject": {"groups": []}}
}

test_admin_is_privileged if {
	authz.privileged == {"admin:all"}
}

