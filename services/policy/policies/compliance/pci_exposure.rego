# PCI-DSS workloads are never exposed to the internet directly.
package rxt.compliance.pci_exposure

import data.rxt.compliance.pci

rule := "no_public_exposure"

severity := "critical"

deny contains message if {
	pci.pci
	object.get(input.manifest.spec, ["network", "visibility"], "private") == "public"
	message := "PCI-DSS workloads must not be public: set network.visibility: private in deploy.yaml and reach them through a private gateway"
}
