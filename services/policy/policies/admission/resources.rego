# Every workload should say how much CPU and memory a replica needs, so quotas and placement count what
# it asks for. One that does not still runs, with the platform's defaults (0.5 vCPU, 512 MiB a
# replica): a warning, not a refusal (the decision's `warnings`).
package rxt.admission.resources

rule := "limits_set"

severity := "medium"

resources := object.get(input.manifest.spec, "resources", {})

defaults := {"cpu": "500m", "memory": "512Mi"}

warn contains message if {
	some field in ["cpu", "memory"]
	not resources[field]
	message := concat("", [
		"Resource limits are not set: spec.resources.", field,
		" is missing, so the platform's default applies (", defaults[field],
		" a replica); set it in deploy.yaml (e.g. cpu: 500m, memory: 512Mi)",
	])
}
