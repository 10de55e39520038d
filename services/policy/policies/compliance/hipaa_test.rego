package rxt.compliance.hipaa_test

import data.rxt.compliance.hipaa

hipaa_input(encrypted) := {
	"manifest": {"spec": {"platform": {"preference": "auto", "constraints": {"compliance": ["hipaa"]}}}},
	"placement": {"provider": "sim-vm", "platform": "sddc-flex", "kind": "vm", "target": {"compliance": ["hipaa"], "regions": [], "encryptionAtRest": encrypted}},
}

test_hipaa_without_encryption_denied if {
	some message in hipaa.deny with input as hipaa_input(false)
	startswith(message, "HIPAA workloads need encryption at rest: sim-vm")
}

test_hipaa_with_encryption_allowed if {
	count(hipaa.deny) == 0 with input as hipaa_input(true)
}

test_not_hipaa_without_encryption_allowed if {
	count(hipaa.deny) == 0 with input as json.patch(hipaa_input(false), [{"op": "replace", "path": "/manifest/spec", "value": {}}])
}
