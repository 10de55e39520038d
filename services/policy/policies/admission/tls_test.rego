package rxt.admission.tls_test

import data.rxt.admission.tls

manifest(network) := {"spec": {"network": network}}

test_public_without_tls_denied if {
	some message in tls.deny with input as {"manifest": manifest({"visibility": "public", "tls": "optional"})}
	contains(message, "network.tls: required")
}

test_public_with_tls_allowed if {
	count(tls.deny) == 0 with input as {"manifest": manifest({"visibility": "public", "tls": "required"})}
}

test_public_tls_defaults_to_required if {
	count(tls.deny) == 0 with input as {"manifest": manifest({"visibility": "public"})}
}

test_private_without_tls_allowed if {
	count(tls.deny) == 0 with input as {"manifest": manifest({"visibility": "private", "tls": "off"})}
}

test_no_network_allowed if {
	count(tls.deny) == 0 with input as {"manifest": {"spec": {}}}
}
