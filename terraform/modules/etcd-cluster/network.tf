# Security groups. No SSH (Session Manager instead), no 0.0.0.0/0 ingress anywhere.
#   peer port 2380    only from the cluster SG
#   client port 2379  from the cluster SG, the load balancer, and the allowed clients
#   metrics 2381      (/health) only from the load balancer, for its health checks
# The Amazon-provided DNS resolver and the EC2 time service are not filtered by security
# groups, so egress is: etcd ports to the cluster, HTTPS to S3 (prefix list) and to the AWS
# API endpoints in node_egress_cidr_blocks.

resource "aws_security_group" "node" {
  name_prefix = "${var.cluster_name}-node-"
  description = "steadfast ${var.cluster_name}: etcd peers"
  vpc_id      = var.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.cluster_name}-node" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "client_lb" {
  name_prefix = "${var.cluster_name}-client-lb-"
  description = "steadfast ${var.cluster_name}: internal etcd client load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(local.common_tags, { Name = "${var.cluster_name}-client-lb" })

  lifecycle {
    create_before_destroy = true
  }
}

# --- peers ------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "node_peer_from_cluster" {
  security_group_id            = aws_security_group.node.id
  description                  = "etcd peer traffic between members of this cluster only"
  ip_protocol                  = "tcp"
  from_port                    = local.peer_port
  to_port                      = local.peer_port
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_ingress_rule" "node_client_from_cluster" {
  security_group_id            = aws_security_group.node.id
  description                  = "etcd client port from members of this cluster"
  ip_protocol                  = "tcp"
  from_port                    = local.client_port
  to_port                      = local.client_port
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_ingress_rule" "node_client_from_lb" {
  security_group_id            = aws_security_group.node.id
  description                  = "etcd client port from the internal client load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.client_port
  to_port                      = local.client_port
  referenced_security_group_id = aws_security_group.client_lb.id
}

resource "aws_vpc_security_group_ingress_rule" "node_health_from_lb" {
  security_group_id            = aws_security_group.node.id
  description                  = "etcd metrics port (/health) from the load balancer health checks"
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
  referenced_security_group_id = aws_security_group.client_lb.id
}

# The allowed clients are indexed by position (count), never by value (for_each over a set):
# a caller may pass a security group or a CIDR that is only known after apply (created in the
# same apply), and for_each keys must be known at plan time. Only the list lengths must be.
resource "aws_vpc_security_group_ingress_rule" "node_client_from_cidr" {
  count = length(var.allowed_client_cidr_blocks)

  security_group_id = aws_security_group.node.id
  description       = "etcd client port from allowed_client_cidr_blocks[${count.index}]"
  ip_protocol       = "tcp"
  from_port         = local.client_port
  to_port           = local.client_port
  cidr_ipv4         = var.allowed_client_cidr_blocks[count.index]
}

resource "aws_vpc_security_group_ingress_rule" "node_client_from_sg" {
  count = length(var.allowed_client_security_group_ids)

  security_group_id            = aws_security_group.node.id
  description                  = "etcd client port from allowed_client_security_group_ids[${count.index}]"
  ip_protocol                  = "tcp"
  from_port                    = local.client_port
  to_port                      = local.client_port
  referenced_security_group_id = var.allowed_client_security_group_ids[count.index]
}

resource "aws_vpc_security_group_egress_rule" "node_etcd_to_cluster" {
  security_group_id            = aws_security_group.node.id
  description                  = "etcd client and peer ports to members of this cluster"
  ip_protocol                  = "tcp"
  from_port                    = local.client_port
  to_port                      = local.peer_port
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_egress_rule" "node_https" {
  count = length(var.node_egress_cidr_blocks)

  security_group_id = aws_security_group.node.id
  description       = "HTTPS to AWS API endpoints (and etcd_url, when used): node_egress_cidr_blocks[${count.index}]"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = var.node_egress_cidr_blocks[count.index]
}

# node-bootstrap (and a mirrored etcd) come from S3, which a gateway endpoint serves on S3's
# public address ranges: allow those explicitly, so node_egress_cidr_blocks can be narrowed to
# the VPC (interface endpoints) without cutting S3 off.
data "aws_prefix_list" "s3" {
  name = "com.amazonaws.${local.region}.s3"
}

resource "aws_vpc_security_group_egress_rule" "node_https_s3" {
  security_group_id = aws_security_group.node.id
  description       = "HTTPS to S3 (artifacts bucket) through the S3 gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_prefix_list.s3.id
}

# --- client load balancer ---------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "lb_client_from_cidr" {
  count = length(var.allowed_client_cidr_blocks)

  security_group_id = aws_security_group.client_lb.id
  description       = "etcd clients from allowed_client_cidr_blocks[${count.index}]"
  ip_protocol       = "tcp"
  from_port         = local.client_port
  to_port           = local.client_port
  cidr_ipv4         = var.allowed_client_cidr_blocks[count.index]
}

resource "aws_vpc_security_group_ingress_rule" "lb_client_from_sg" {
  count = length(var.allowed_client_security_group_ids)

  security_group_id            = aws_security_group.client_lb.id
  description                  = "etcd clients from allowed_client_security_group_ids[${count.index}]"
  ip_protocol                  = "tcp"
  from_port                    = local.client_port
  to_port                      = local.client_port
  referenced_security_group_id = var.allowed_client_security_group_ids[count.index]
}

resource "aws_vpc_security_group_egress_rule" "lb_client_to_nodes" {
  security_group_id            = aws_security_group.client_lb.id
  description                  = "Forward etcd client traffic to the peers"
  ip_protocol                  = "tcp"
  from_port                    = local.client_port
  to_port                      = local.client_port
  referenced_security_group_id = aws_security_group.node.id
}

resource "aws_vpc_security_group_egress_rule" "lb_health_to_nodes" {
  security_group_id            = aws_security_group.client_lb.id
  description                  = "Health checks to the peers' /health on the metrics port"
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
  referenced_security_group_id = aws_security_group.node.id
}
