# The decision every caller reads (the one entrypoint, rxt/decision/result): each policy's denials
# and warnings with the policy's package name, rule and severity. A new policy is one line below.
package rxt.decision

import data.rxt.admission.resources
import data.rxt.admission.tls
import data.rxt.compliance.hipaa
import data.rxt.compliance.pci
import data.rxt.compliance.pci_exposure
import data.rxt.quota.plan

policies := [
	{"policy": "rxt.admission.tls", "rule": tls.rule, "severity": tls.severity, "deny": tls.deny},
	{"policy": "rxt.admission.resources", "rule": resources.rule, "severity": resources.severity, "deny": resources.deny},
	{"policy": "rxt.compliance.pci", "rule": pci.rule, "severity": pci.severity, "deny": pci.deny},
	{"policy": "rxt.compliance.pci_exposure", "rule": pci_exposure.rule, "severity": pci_exposure.severity, "deny": pci_exposure.deny},
	{"policy": "rxt.compliance.hipaa", "rule": hipaa.rule, "severity": hipaa.severity, "deny": hipaa.deny},
	{"policy": "rxt.quota.plan", "rule": plan.rule, "severity": plan.severity, "deny": plan.deny},
]

violations contains {"policy": p.policy, "rule": p.rule, "severity": p.severity, "message": message} if {
	some p in policies
	some message in p.deny
}

result := {"allow": count(violations) == 0, "violations": violations}
