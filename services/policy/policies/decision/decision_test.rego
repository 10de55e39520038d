package rxt.decision_test

import data.rxt.decision

good := {
	"action": "deploy",
	"tenant": {"id": "tnt_acme", "plan": "standard"},
	"manifest": {"spec": {
		"resources": {"cpu": "500m", "memory": "512Mi"},
		"network": {"visibility": "public", "tls": "required"},
	}},
	"workload": {"replicas": 2, "maxReplicas": 2, "cpu": 0.5, "memoryMiB": 512},
	"placement": {"provider": "rxt-spot", "platform": "rxt-spot", "kind": "k8s", "target": {"compliance": [], "regions": [], "encryptionAtRest": true}},
}

test_good_allowed if {
	decision.result == {"allow": true, "violations": set(), "warnings": set()} with input as good
}

test_each_violation_named_by_its_package if {
	bad := object.union(good, {"manifest": {"spec": {
		"platform": {"preference": "auto", "constraints": {"compliance": ["pci-dss"]}},
		"network": {"visibility": "public", "tls": "off"},
	}}})
	names := {v.policy | some v in decision.violations} with input as bad
	names == {"rxt.admission.tls", "rxt.compliance.pci", "rxt.compliance.pci_exposure"}
}

test_missing_limits_warned_not_denied if {
	bad := json.patch(good, [{"op": "remove", "path": "/manifest/spec/resources"}])
	decision.result.allow with input as bad
	{w.policy | some w in decision.warnings} == {"rxt.admission.resources"} with input as bad
	count(decision.warnings) == 2 with input as bad
}

test_violation_carries_rule_and_severity if {
	bad := object.union(good, {"manifest": {"spec": {"network": {"visibility": "public", "tls": "off"}, "resources": {"cpu": "1", "memory": "1Gi"}}}})
	some v in decision.violations with input as bad
	v.rule == "tls_required"
	v.severity == "high"
}
