package rxt.quota.plan_test

import data.rxt.quota.plan

plans := {"standard": {"replicas": 10, "cpu": 16, "memoryMiB": 32768}}

asking(replicas, cpu, memory) := {
	"tenant": {"id": "tnt_acme", "plan": "standard"},
	"workload": {"replicas": replicas, "maxReplicas": replicas, "cpu": cpu, "memoryMiB": memory},
}

test_within_quota_allowed if {
	count(plan.deny) == 0 with input as asking(10, 1.6, 3276.8) with data.plans as plans
}

test_too_many_replicas_denied if {
	some message in plan.deny with input as asking(11, 0.5, 512) with data.plans as plans
	startswith(message, "The standard plan allows at most 10 replicas a deployment; this one asks for 11")
}

test_too_much_cpu_denied if {
	some message in plan.deny with input as asking(4, 8, 512) with data.plans as plans
	message == "The standard plan allows at most 16000m of CPU a deployment; this one asks for 32000m (8000m x 4 replicas): lower spec.resources.cpu or the replicas, or upgrade the plan"
}

test_too_much_memory_denied if {
	some message in plan.deny with input as asking(2, 0.5, 20480) with data.plans as plans
	contains(message, "at most 32768Mi of memory a deployment; this one asks for 40960Mi (20480Mi x 2 replicas)")
}

test_unknown_plan_denied if {
	some message in plan.deny with input as object.union(asking(1, 0.5, 512), {"tenant": {"plan": "gold"}}) with data.plans as plans
	contains(message, "plan gold has no quotas")
}

test_shipped_plans_have_standard if {
	data.plans.standard.replicas > 0
}
