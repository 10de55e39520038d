# The decision every caller reads (the one entrypoint, rxt/decision/result): each policy's denials
# (`violations`, which refuse) and warnings (`warnings`, which do not) with the policy's package name,
# rule and severity. A new policy is one line below: in `policies` when it denies, in `advisories`
# when it warns.
package rxt.decision

import data.rxt.admission.resources
import data.rxt.admission.tls
import data.rxt.compliance.hipaa
import data.rxt.compliance.pci
import data.rxt.compliance.pci_exposure
import data.rxt.quota.plan

policies := [
	{"policy": "rxt.admission.tls", "rule": tls.rule, "severity": tls.severity, "deny": tls.deny},
	{"policy": "rxt.compliance.pci", "rule": pci.rule, "severity": pci.severity, "deny": pci.deny},
	{"policy": "rxt.compliance.pci_exposure", "rule": pci_exposure.rule, "severity": pci_exposure.severity, "deny": pci_exposure.deny},
	{"policy": "rxt.compliance.hipaa", "rule": hipaa.rule, "severity": hipaa.severity, "deny": hipaa.deny},
	{"policy": "rxt.quota.plan", "rule": plan.rule, "severity": plan.severity, "deny": plan.deny},
]

advisories := [
	{"policy": "rxt.admission.resources", "rule": resources.rule, "severity": resources.severity, "warn": resources.warn},
]

violations contains {"policy": p.policy, "rule": p.rule, "severity": p.severity, "message": message} if {
	some p in policies
	some message in p.deny
}

warnings contains {"policy": p.policy, "rule": p.rule, "severity": p.severity, "message": message} if {
	some p in advisories
	some message in p.warn
}

result := {"allow": count(violations) == 0, "violations": violations, "warnings": warnings}
