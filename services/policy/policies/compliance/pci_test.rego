package rxt.compliance.pci_test

import data.rxt.compliance.pci
import data.rxt.compliance.pci_exposure

pci_manifest(visibility) := {"spec": {
	"platform": {"preference": "auto", "constraints": {"compliance": ["pci-dss"]}},
	"network": {"visibility": visibility},
}}

on(kind) := {"provider": "rxt-spot", "platform": "rxt-spot", "kind": kind, "target": {"compliance": [], "regions": [], "encryptionAtRest": true}}

test_pci_on_kubernetes_denied if {
	pci.deny == {"PCI-DSS workloads run on VMs only: rxt-spot is Kubernetes; set platform.preference: vm in deploy.yaml"} with input as {"manifest": pci_manifest("private"), "placement": on("k8s")}
}

test_pci_on_vm_allowed if {
	count(pci.deny) == 0 with input as {"manifest": pci_manifest("private"), "placement": on("vm")}
}

test_not_pci_on_kubernetes_allowed if {
	count(pci.deny) == 0 with input as {"manifest": {"spec": {}}, "placement": on("k8s")}
}

test_pci_public_denied if {
	count(pci_exposure.deny) == 1 with input as {"manifest": pci_manifest("public"), "placement": on("vm")}
}

test_pci_private_allowed if {
	count(pci_exposure.deny) == 0 with input as {"manifest": pci_manifest("private"), "placement": on("vm")}
}

test_public_not_pci_allowed if {
	count(pci_exposure.deny) == 0 with input as {"manifest": {"spec": {"network": {"visibility": "public"}}}, "placement": on("vm")}
}
