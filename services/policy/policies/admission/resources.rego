# Every workload says how much CPU and memory a replica needs, so quotas and placement can count it.
package rxt.admission.resources

rule := "limits_set"

severity := "medium"

resources := object.get(input.manifest.spec, "resources", {})

deny contains message if {
	some field in ["cpu", "memory"]
	not resources[field]
	message := concat("", [
		"Resource limits must be set: spec.resources.", field,
		" is missing; set it in deploy.yaml (e.g. cpu: 500m, memory: 512Mi)",
	])
}
