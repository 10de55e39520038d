# HIPAA workloads keep their data encrypted at rest.
package rxt.compliance.hipaa

rule := "encryption_at_rest"

severity := "critical"

deny contains message if {
	"hipaa" in object.get(input.manifest.spec, ["platform", "constraints", "compliance"], [])
	not input.placement.target.encryptionAtRest
	message := concat("", [
		"HIPAA workloads need encryption at rest: ", input.placement.provider,
		" does not encrypt volumes and disks; deploy to a provider that does",
	])
}
