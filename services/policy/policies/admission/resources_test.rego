package rxt.admission.resources_test

import data.rxt.admission.resources

test_both_set_allowed if {
	count(resources.deny) == 0 with input as {"manifest": {"spec": {"resources": {"cpu": "500m", "memory": "512Mi"}}}}
}

test_memory_missing_denied if {
	resources.deny == {"Resource limits must be set: spec.resources.memory is missing; set it in deploy.yaml (e.g. cpu: 500m, memory: 512Mi)"} with input as {"manifest": {"spec": {"resources": {"cpu": "1"}}}}
}

test_no_resources_denied_twice if {
	count(resources.deny) == 2 with input as {"manifest": {"spec": {}}}
}
