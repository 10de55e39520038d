# PCI-DSS workloads run on virtual machines only (SDDC Flex), never on shared Kubernetes.
package rxt.compliance.pci

rule := "vm_only"

severity := "critical"

pci if "pci-dss" in object.get(input.manifest.spec, ["platform", "constraints", "compliance"], [])

deny contains message if {
	pci
	input.placement.kind != "vm"
	message := concat("", [
		"PCI-DSS workloads run on VMs only: ", input.placement.provider, " is ",
		object.get(kind_name, input.placement.kind, input.placement.kind),
		"; set platform.preference: vm in deploy.yaml",
	])
}

kind_name := {"k8s": "Kubernetes", "vm": "a VM platform"}
