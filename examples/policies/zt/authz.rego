# zt sample policy: RBAC by group, device posture requirements, step-up for admin paths,
# health endpoints open. Entrypoint: data.zt.authz.decision
package zt.authz

import rego.v1

cfg := data.zt.config

decision := {"allow": true, "reasons": ["public_endpoint"]} if {
	public_endpoint
} else := {"allow": false, "reasons": ["device_posture_missing"]} if {
	input.device == null
} else := {"allow": false, "reasons": posture_reasons} if {
	count(posture_violations) > 0
} else := {
	"allow": false,
	"reasons": ["admin_requires_recent_mfa"],
	"step_up": {"acr_values": cfg.step_up_acr, "max_age": cfg.step_up_max_age_s},
} if {
	admin_path
	rbac_allowed
	not recent_mfa
} else := {
	"allow": true,
	"reasons": ["rbac_granted"],
	"obligations": {"log_level": "info"},
	"grants": granted,
} if {
	rbac_allowed
} else := {"allow": false, "reasons": ["rbac_not_permitted"]}

public_endpoint if {
	input.request.method == "GET"
	input.request.path in cfg.public_paths
}

admin_path if startswith(input.request.path, "/admin")

posture_violations contains "device_unmanaged" if not input.device.managed

posture_violations contains "disk_not_encrypted" if input.device.disk_encrypted != true

posture_violations contains "device_jailbroken" if input.device.jailbroken == true

posture_violations contains "patches_outdated" if {
	input.device.patch_age_days > cfg.max_patch_age_days
}

posture_reasons := sort([v | some v in posture_violations])

rbac_allowed if count(granted) > 0

# The permissions that allowed the request: logged with the decision (`grants`), so that
# `zt report --bundle` can list what each subject holds but never used.
granted contains grant.name if {
	some group in input.subject.groups
	some grant in cfg.grants[group]
	method_matches(grant.methods)
	startswith(input.request.path, grant.prefix)
}

# Every permission a subject holds, from `input.subject` alone (the report evaluates it once
# per subject it saw in the log).
entitlements contains grant.name if {
	some group in input.subject.groups
	some grant in cfg.grants[group]
}

# The permissions that count as privileged in the least-privilege review.
privileged := {name | some name in cfg.privileged}

method_matches(methods) if "*" in methods

method_matches(methods) if input.request.method in methods

recent_mfa if {
	"mfa" in input.subject.amr
	input.context.now - input.subject.auth_time <= cfg.step_up_max_age_s
}
