package rxt.admission.resources_test

import data.rxt.admission.resources

test_both_set_no_warning if {
	count(resources.warn) == 0 with input as {"manifest": {"spec": {"resources": {"cpu": "500m", "memory": "512Mi"}}}}
}

test_memory_missing_warned if {
	resources.warn == {"Resource limits are not set: spec.resources.memory is missing, so the platform's default applies (512Mi a replica); set it in deploy.yaml (e.g. cpu: 500m, memory: 512Mi)"} with input as {"manifest": {"spec": {"resources": {"cpu": "1"}}}}
}

test_no_resources_warned_twice if {
	count(resources.warn) == 2 with input as {"manifest": {"spec": {}}}
}
