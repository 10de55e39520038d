# Each plan caps what one deployment may take: its most replicas, and their CPUs and memory together.
# The caps per plan are bundle data (plans/data.json: data.plans). Messages are built with concat and
# format_int, which the WebAssembly runtime implements natively (its sprintf is not Go's).
package rxt.quota.plan

rule := "plan_quota"

severity := "medium"

plan := input.tenant.plan

quota := data.plans[plan]

workload := input.workload

# CPUs as millicores, the way deploy.yaml writes them: 1.5 → "1500m".
millicores(cpu) := concat("", [format_int(round(cpu * 1000), 10), "m"])

deny contains message if {
	not data.plans[plan]
	message := concat("", [
		"The organisation's plan ", plan,
		" has no quotas in this policy bundle; ask an operator to add it to the bundle's plans",
	])
}

deny contains message if {
	workload.maxReplicas > quota.replicas
	message := concat("", [
		"The ", plan, " plan allows at most ", format_int(quota.replicas, 10),
		" replicas a deployment; this one asks for ", format_int(workload.maxReplicas, 10),
		": lower spec.replicas (or autoscaling.maxReplicas), or upgrade the plan",
	])
}

deny contains message if {
	total := workload.cpu * workload.maxReplicas
	total > quota.cpu
	message := concat("", [
		"The ", plan, " plan allows at most ", millicores(quota.cpu),
		" of CPU a deployment; this one asks for ", millicores(total),
		" (", millicores(workload.cpu), " x ", format_int(workload.maxReplicas, 10),
		" replicas): lower spec.resources.cpu or the replicas, or upgrade the plan",
	])
}

deny contains message if {
	total := workload.memoryMiB * workload.maxReplicas
	total > quota.memoryMiB
	message := concat("", [
		"The ", plan, " plan allows at most ", format_int(quota.memoryMiB, 10),
		"Mi of memory a deployment; this one asks for ", format_int(ceil(total), 10),
		"Mi (", format_int(ceil(workload.memoryMiB), 10), "Mi x ", format_int(workload.maxReplicas, 10),
		" replicas): lower spec.resources.memory or the replicas, or upgrade the plan",
	])
}
