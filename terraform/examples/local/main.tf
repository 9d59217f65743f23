# The module, applied to a moto server on this machine: the same module call as
# examples/complete, on a VPC whose subnets are loopback networks, so that the instances moto
# launches get 127.0.x.y private addresses that a local etcd can bind. scripts/tf-local.sh
# applies and destroys it; `make tf-local` runs both.
#
# Not here, on purpose: the VPC endpoints, flow logs and alarm topic of examples/complete
# (moto has no use for them, and the module does not depend on them).

locals {
  az_names = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:A stand-in VPC inside a local moto server (loopback addresses); there is no traffic to log. examples/complete enables flow logs.
  cidr_block           = "127.0.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = var.cluster_name }
}

resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "${var.cluster_name}-default-unused" }
}

# 127.0.1.0/24, 127.0.2.0/24, 127.0.3.0/24: one per zone, in zone order.
resource "aws_subnet" "private" {
  count = 3

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.az_names[count.index]
  cidr_block              = "127.0.${count.index + 1}.0/24"
  map_public_ip_on_launch = false
  tags                    = { Name = "${var.cluster_name}-private-${local.az_names[count.index]}" }
}

# Clients, created in the same apply as in examples/complete (unknown at plan time).
resource "aws_security_group" "clients" {
  name_prefix = "${var.cluster_name}-clients-"
  description = "etcd clients of ${var.cluster_name}: members may reach the etcd client port"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${var.cluster_name}-clients" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_network_interface" "client" {
  subnet_id       = aws_subnet.private[0].id
  security_groups = [aws_security_group.clients.id]
  description     = "steadfast ${var.cluster_name}: example etcd client address"
  tags            = { Name = "${var.cluster_name}-client" }
}

module "etcd" {
  source = "../../modules/etcd-cluster"

  cluster_name = var.cluster_name
  domain       = var.domain
  vpc_id       = aws_vpc.this.id
  subnet_ids   = aws_subnet.private[*].id
  peer_count   = var.peer_count

  node_bootstrap_path = var.node_bootstrap_path
  lambda_zip_path     = var.lambda_zip_path
  etcd_archive_path   = var.etcd_archive_path
  # Test artifacts are not real etcd releases: trust the given file's own checksum.
  etcd_sha256 = filesha256(var.etcd_archive_path)

  # moto's Amazon Linux 2023 arm64 parameter: a throw-away region may float (the complete
  # example pins ami_id, as production does).
  ami_ssm_parameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"

  # Seeds on loopback too, so a local etcd can tell placeholders from real peers.
  placeholder_network = "127.0.255.0/24"

  lifecycle_hook_heartbeat_timeout = var.lifecycle_hook_heartbeat_timeout

  allowed_client_security_group_ids = [aws_security_group.clients.id]
  allowed_client_cidr_blocks        = ["${aws_network_interface.client.private_ip}/32"]

  node_egress_cidr_blocks = [aws_vpc.this.cidr_block]

  # A throw-away region: destroy may delete the backup bucket with whatever snapshots a local
  # run put in it (a real cluster keeps the module's default, false: backups are data).
  backup_bucket_force_destroy = true
  # moto (5.2.5) implements no Data Lifecycle Manager API: apply would fail on the policy.
  # examples/complete keeps the module's default (daily EBS snapshots on).
  ebs_snapshots_enabled = false

  tags = {
    Environment = "local"
  }
}
