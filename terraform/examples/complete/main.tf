# A complete deployment: its own VPC with three private subnets in three zones, the VPC
# endpoints the nodes need, an alarm topic, a client security group and address, and the
# etcd-cluster module.
#
# What a node in a private subnet talks to, and how it gets there (no NAT, no internet); the
# list is the module's required_vpc_endpoints, read here from the same vocabulary:
#   EC2 API (attach/detach/tag volumes, describe)        ec2 interface endpoint
#   Auto Scaling API (lifecycle action, heartbeats)      autoscaling interface endpoint
#   CloudWatch API (the nodes' metrics)                  monitoring interface endpoint
#   Secrets Manager (the cluster's CA; tls_enabled)      secretsmanager interface endpoint
#   S3 (node-bootstrap and etcd from the artifacts bucket, the backups; AL2023 dnf repositories)
#                                                        S3 gateway endpoint
#   Session Manager (no SSH; enable_session_manager)     ssm, ssmmessages interface endpoints
#   DNS, NTP, IMDS                                       VPC resolver / link-local, no route needed
# The module uploads the etcd tarball (etcd_archive_path) into its artifacts bucket, so the
# recovery path (replacing a node) depends on nothing outside the region, and a zone outage
# cannot block replacements in the other zones.

# The three zones are pinned by name: the subnet order is the peer-to-zone mapping, so the set
# must never change by itself when AWS adds a zone.
data "aws_availability_zones" "selected" {
  state = "available"
  filter {
    name   = "zone-name"
    values = local.az_names
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  az_names = var.availability_zones != null ? var.availability_zones : ["${var.region}a", "${var.region}b", "${var.region}c"]
  # In the given order (never sorted by AWS's answer); the data source checks they exist.
  azs = [for z in local.az_names : z if contains(data.aws_availability_zones.selected.names, z)]

  # The module's required_vpc_endpoints, computed here from its vocabulary (the module's own
  # output cannot size these: the module's nodes would then wait on endpoints that wait on it).
  # test_structure.py checks the two agree for every combination of features.
  node_services = jsondecode(file("${path.module}/../../modules/etcd-cluster/vocab.json")).node_services
  interface_endpoints = concat(
    split(" ", local.node_services.always),
    var.tls_enabled ? split(" ", local.node_services.tls) : [],
    var.enable_session_manager ? split(" ", local.node_services.session_manager) : [],
  )

  node_bootstrap_path = var.node_bootstrap_path != null ? var.node_bootstrap_path : "${path.module}/../../../target/aarch64-unknown-linux-gnu/release/node-bootstrap"
  lambda_zip_path     = var.lambda_zip_path != null ? var.lambda_zip_path : "${path.module}/../../../target/lambda/peer-dns/bootstrap.zip"
}

# --- VPC ----------------------------------------------------------------------------------------

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true # private hosted zones and endpoint private DNS need both
  enable_dns_hostnames = true
  tags                 = { Name = var.cluster_name }
}

# Nothing uses the default security group; leave it with no rules at all.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.cluster_name}-default-unused" }
}

resource "aws_subnet" "private" {
  count = 3

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.az_names[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 4, count.index)
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.cluster_name}-private-${local.az_names[count.index]}" }

  lifecycle {
    precondition {
      condition     = length(local.azs) == 3
      error_message = "Not all of ${join(", ", local.az_names)} are available zones in ${var.region}: set availability_zones."
    }
    precondition {
      condition     = length(setsubtract(local.az_names, data.aws_ec2_instance_type_offerings.chosen.locations)) == 0
      error_message = "The instance type ${var.instance_type} is not offered in ${join(", ", setsubtract(local.az_names, data.aws_ec2_instance_type_offerings.chosen.locations))} in this account (zone names map to different physical zones per account): set instance_type or availability_zones."
    }
  }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.cluster_name}-private" }
}

resource "aws_route_table_association" "private" {
  count = 3

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# --- VPC endpoints ------------------------------------------------------------------------------

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
  tags              = { Name = "${var.cluster_name}-s3" }
}

resource "aws_security_group" "endpoints" {
  name_prefix = "${var.cluster_name}-endpoints-"
  description = "VPC interface endpoints: HTTPS from inside the VPC"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.cluster_name}-endpoints" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS to the AWS API endpoints from inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.vpc_cidr
}

# Preflight, at plan (the module checks the instance type again in its subnets' zones, known
# to it only once this apply has created them): each endpoint service, and the instance type,
# in every chosen zone.
data "aws_vpc_endpoint_service" "interface" {
  for_each = toset(local.interface_endpoints)

  service      = each.value
  service_type = "Interface"
}

data "aws_ec2_instance_type_offerings" "chosen" {
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }

  filter {
    name   = "location"
    values = local.az_names
  }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(local.interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = { Name = "${var.cluster_name}-${each.value}" }

  lifecycle {
    precondition {
      condition     = length(setsubtract(local.az_names, data.aws_vpc_endpoint_service.interface[each.value].availability_zones)) == 0
      error_message = "The ${each.value} endpoint service is not offered in ${join(", ", setsubtract(local.az_names, data.aws_vpc_endpoint_service.interface[each.value].availability_zones))}: the nodes there could not reach ${each.value}. Choose other availability_zones."
    }
  }
}

# --- VPC flow logs ------------------------------------------------------------------------------

resource "aws_kms_key" "example" {
  description             = "steadfast example ${var.cluster_name}: alarm topic and VPC flow logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        }
      },
      {
        Sid       = "CloudWatchLogsForFlowLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/steadfast/${var.cluster_name}/vpc-flow-logs"
          }
        }
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/steadfast/${var.cluster_name}/vpc-flow-logs"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.example.arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name_prefix        = "${var.cluster_name}-flow-logs-"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
  statement {
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "vpc-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
}

# --- Alarm topic --------------------------------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  name              = "${var.cluster_name}-alarms"
  kms_master_key_id = aws_kms_key.example.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# --- Clients -------------------------------------------------------------------------------------
# Both are created in this same apply, so their IDs and addresses are unknown at plan time: the
# module must (and does) accept client rules it cannot key by value. terraform plan of this
# example proves it.

# Attach this security group to the instances that use etcd.
resource "aws_security_group" "clients" {
  name_prefix = "${var.cluster_name}-clients-"
  description = "etcd clients of ${var.cluster_name}: members may reach the etcd client port"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.cluster_name}-clients" }

  lifecycle {
    create_before_destroy = true
  }
}

# A fixed private address for one more client (for example a bastion or a batch host), allowed
# by address rather than by group; AWS picks the address at apply time.
resource "aws_network_interface" "client" {
  subnet_id       = aws_subnet.private[0].id
  security_groups = [aws_security_group.clients.id]
  description     = "steadfast ${var.cluster_name}: example etcd client address"
  tags            = { Name = "${var.cluster_name}-client" }
}

# --- The cluster --------------------------------------------------------------------------------

module "etcd" {
  source = "../../modules/etcd-cluster"

  cluster_name  = var.cluster_name
  domain        = var.domain
  vpc_id        = aws_vpc.this.id
  subnet_ids    = aws_subnet.private[*].id
  peer_count    = var.peer_count
  instance_type = var.instance_type
  ami_id        = var.ami_id
  etcd_version  = var.etcd_version
  etcd_sha256   = var.etcd_sha256

  node_bootstrap_path = local.node_bootstrap_path
  lambda_zip_path     = local.lambda_zip_path
  etcd_archive_path   = var.etcd_archive_path

  # Clients: members of the clients security group, and the one address above.
  allowed_client_security_group_ids = [aws_security_group.clients.id]
  allowed_client_cidr_blocks        = ["${aws_network_interface.client.private_ip}/32"]

  # Every AWS API the nodes use has an interface endpoint inside the VPC (S3 is allowed by its
  # prefix list): HTTPS never needs to leave the VPC.
  node_egress_cidr_blocks = [var.vpc_cidr]
  enable_session_manager  = var.enable_session_manager
  tls_enabled             = var.tls_enabled

  alarm_sns_topic_arn = aws_sns_topic.alarms.arn

  tags = {
    Environment = "example"
  }

  # No module-level depends_on on the endpoints (it would defer every data source in the
  # module to apply time on any later change). If a first node boots before an endpoint is
  # ready, its install retries, then ABANDONs the launch and the ASG simply launches another.
}
