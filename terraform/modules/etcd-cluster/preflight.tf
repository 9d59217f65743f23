# Preflight: what a fresh account must offer before nine single-instance groups are worth
# creating. Each check fails the plan (or, when the subnets are created in the same apply, the
# apply before any launch template or group) with a message that says what to change. Without
# them `terraform apply` succeeds (it never waits for capacity) and the cluster simply never
# forms: the groups' activity history is the only place the cause shows.
#
# Not checkable here, and listed in terraform/README.md ("Account prerequisites"): the
# service-linked roles AWSServiceRoleForAutoScaling and AWSServiceRoleForElasticLoadBalancing
# (created by the first CreateAutoScalingGroup / CreateLoadBalancer when the applying principal
# may iam:CreateServiceLinkedRole).

# The instance type, in each of the subnets' zones (zone names map to different physical zones
# in each account; not every zone offers every type).
data "aws_ec2_instance_type_offerings" "node" {
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }

  filter {
    name   = "location"
    values = distinct([for s in data.aws_subnet.zone : s.availability_zone])
  }
}

data "aws_ec2_instance_type" "node" {
  instance_type = var.instance_type
}

# The account's Running On-Demand Standard instances quota, in vCPUs (new accounts start low).
data "aws_servicequotas_service_quota" "vcpu" {
  count = var.preflight_vcpu_quota ? 1 : 0

  service_code = "ec2"
  quota_code   = local.vcpu_quota_code
}

locals {
  # Service Quotas' code of "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances".
  vcpu_quota_code = "L-1216C47A"
  zones_without_type = [
    for s in data.aws_subnet.zone : s.availability_zone
    if !contains(data.aws_ec2_instance_type_offerings.node.locations, s.availability_zone)
  ]
  vcpus_needed = var.peer_count * data.aws_ec2_instance_type.node.default_vcpus
  vcpu_quota   = var.preflight_vcpu_quota ? data.aws_servicequotas_service_quota.vcpu[0].value : null
}

resource "terraform_data" "preflight" {
  input = {
    instance_type = var.instance_type
    zones         = sort(distinct([for s in data.aws_subnet.zone : s.availability_zone]))
  }

  lifecycle {
    precondition {
      condition     = length(local.zones_without_type) == 0
      error_message = "The instance type ${var.instance_type} is not offered in ${join(", ", local.zones_without_type)} in this account (zone names map to different physical zones per account): choose another Graviton type (instance_type) or subnets in other zones."
    }
    precondition {
      condition     = local.vcpu_quota == null || local.vcpus_needed <= local.vcpu_quota
      error_message = "${var.peer_count} x ${var.instance_type} need ${local.vcpus_needed} vCPUs, more than this account's Running On-Demand Standard instances quota (${coalesce(local.vcpu_quota, 0)} vCPUs, Service Quotas ec2/${local.vcpu_quota_code}): request an increase, or choose a smaller instance_type. (The quota is shared with every other instance of the account in the region.)"
    }
  }
}
