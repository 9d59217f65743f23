# Internal client endpoint: a network load balancer on 2379 in front of every peer, health
# checked on etcd's plain-http metrics port (GET /health on 2381). Clients that understand
# DNS discovery can use the client SRV record instead.

resource "aws_lb" "client" {
  #checkov:skip=CKV_AWS_91:NLB access logs are only written for TLS listeners; this listener is TCP passthrough (etcd terminates TLS itself).
  #checkov:skip=CKV_AWS_150:The load balancer holds no state and clients reach it through the stable alias etcd.<cluster>.<domain>; deletion protection would only block `terraform destroy`.
  name                             = "${var.cluster_name}-etcd-client"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  security_groups                  = [aws_security_group.client_lb.id]
  enable_cross_zone_load_balancing = true
  tags                             = local.common_tags
}

resource "aws_lb_target_group" "client" {
  name                 = "${var.cluster_name}-etcd-client"
  port                 = local.client_port
  protocol             = "TCP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = local.vocab.client_lb.deregistration_delay_secs
  # Existing client connections to a deregistered peer are closed, so clients reconnect to a
  # healthy member instead of hanging on a dying one.
  connection_termination = true

  # vocab.json client_lb: the sandbox's load balancer checks the same way.
  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = tostring(local.metrics_port)
    path                = local.vocab.client_lb.health_path
    matcher             = "200"
    interval            = local.vocab.client_lb.health_interval_secs
    timeout             = local.vocab.client_lb.health_timeout_secs
    healthy_threshold   = local.vocab.client_lb.healthy_threshold
    unhealthy_threshold = local.vocab.client_lb.unhealthy_threshold
  }

  tags = local.common_tags
}

resource "aws_lb_listener" "client" {
  load_balancer_arn = aws_lb.client.arn
  port              = local.client_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.client.arn
  }

  tags = local.common_tags
}
