# Public endpoints are served over HTTPS only.
package rxt.admission.tls

rule := "tls_required"

severity := "high"

network := object.get(input.manifest.spec, "network", {})

deny contains message if {
	object.get(network, "visibility", "private") == "public"
	tls := object.get(network, "tls", "required")
	tls != "required"
	message := concat("", [
		"Public endpoints must use TLS: network.tls is ", tls,
		"; set network.tls: required in deploy.yaml (or make the service private)",
	])
}
