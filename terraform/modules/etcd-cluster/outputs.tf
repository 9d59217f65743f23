output "zone_id" {
  description = "ID of the private hosted zone for domain D (created or given)."
  value       = local.zone_id
}

output "cluster_domain" {
  description = "The cluster domain C.D (use it as etcd's --discovery-srv)."
  value       = local.cluster_domain
}

output "srv_server_name" {
  description = "SRV record listing every peer on the peer port 2380."
  value       = aws_route53_record.srv_server.name
}

output "srv_client_name" {
  description = "SRV record listing every peer on the client port 2379."
  value       = aws_route53_record.srv_client.name
}

output "peer_names" {
  description = "Peer A record names, by peer index."
  value       = { for k, p in local.peers : k => p.fqdn }
}

output "client_endpoint" {
  description = "Stable client endpoint (host:port): an alias of the internal NLB in the private zone."
  value       = "${aws_route53_record.client_alias.name}:${local.client_port}"
}

output "client_lb_dns_name" {
  description = "DNS name of the internal client load balancer (port 2379)."
  value       = aws_lb.client.dns_name
}

output "asg_names" {
  description = "Auto Scaling group names, by peer index."
  value       = { for k, asg in aws_autoscaling_group.peer : k => asg.name }
}

output "volume_ids" {
  description = "Data volume IDs, by peer index."
  value       = { for k, v in aws_ebs_volume.peer : k => v.id }
}

output "lambda_function_name" {
  description = "Name of the peer-dns function (the name to give `cargo lambda deploy`)."
  value       = aws_lambda_function.peer_dns.function_name
}

output "lambda_function_arn" {
  description = "ARN of the peer-dns function."
  value       = aws_lambda_function.peer_dns.arn
}

output "lambda_role_arn" {
  description = "Execution role of peer-dns (Terraform owns it; cargo lambda deploy needs no --iam-role)."
  value       = aws_iam_role.lambda.arn
}

output "lambda_dlq_url" {
  description = "Dead-letter queue of peer-dns and of its EventBridge targets."
  value       = aws_sqs_queue.dlq.id
}

output "node_role_arns" {
  description = "IAM role of each peer's instances, by peer index (each may touch only its own peer's volume)."
  value       = { for k, r in aws_iam_role.node : k => r.arn }
}

output "launch_template_ids" {
  description = "Launch template IDs, by peer index."
  value       = { for k, lt in aws_launch_template.peer : k => lt.id }
}

output "event_rule_names" {
  description = "EventBridge rules that invoke peer-dns: the two launch rules and the sweep."
  value = {
    lifecycle_action  = aws_cloudwatch_event_rule.lifecycle_action.name
    launch_successful = aws_cloudwatch_event_rule.launch_successful.name
    sweep             = aws_cloudwatch_event_rule.sweep.name
  }
}

output "cluster_name" {
  description = "Cluster name C, as given to peer-dns."
  value       = aws_lambda_function.peer_dns.environment[0].variables[local.env.cluster]
}

output "domain" {
  description = "Zone domain D, as given to peer-dns."
  value       = aws_lambda_function.peer_dns.environment[0].variables[local.env.domain]
}

output "placeholder_network" {
  description = "Network the peer-N A records were seeded from (as given to peer-dns)."
  value       = aws_lambda_function.peer_dns.environment[0].variables[local.env.placeholder_network]
}

output "node_security_group_id" {
  description = "Security group of the peers (the cluster SG)."
  value       = aws_security_group.node.id
}

output "client_lb_security_group_id" {
  description = "Security group of the internal client load balancer."
  value       = aws_security_group.client_lb.id
}

output "artifacts_bucket" {
  description = "Bucket holding node-bootstrap and (with etcd_archive_path) the etcd tarball, under content-addressed keys."
  value       = aws_s3_bucket.artifacts.id
}

output "backup_bucket_name" {
  description = "Bucket of the etcd snapshots (<prefix><cluster>/snapshots/...), or null when backup_enabled is false."
  value       = local.backup_bucket_name
}

output "ebs_snapshot_policy_id" {
  description = "ID of the Data Lifecycle Manager policy taking the daily EBS snapshots, or null when ebs_snapshots_enabled is false."
  value       = one(aws_dlm_lifecycle_policy.ebs[*].id)
}

output "kms_key_arn" {
  description = "KMS key protecting the data volumes, backups, artifacts, Lambda environment, logs and DLQ."
  value       = local.kms_key_arn
}

output "lifecycle_hook_name" {
  description = "Name of the LAUNCHING lifecycle hook on every peer ASG."
  value       = one(distinct([for h in aws_autoscaling_lifecycle_hook.launching : h.name]))
}

output "ca_secret_name" {
  description = "Secrets Manager secret holding the cluster's CA (created by the first node with TLS on; not managed by Terraform, so `terraform destroy` leaves it: delete it by hand after the cluster is gone). null without TLS."
  value       = var.tls_enabled ? local.ca_secret_name : null
}

output "operator_tls_policy_json" {
  description = "IAM policy (JSON) for whoever runs `steadfast cert issue` and `steadfast ca rotate`: read and write the CA secret, decrypt through Secrets Manager. null without TLS."
  value       = var.tls_enabled ? data.aws_iam_policy_document.operator_tls[0].json : null
}

output "required_vpc_endpoints" {
  description = "The VPC endpoints the nodes need when their subnets have no route out (no NAT), for the features that are on: gateway (s3) and interface (ec2, autoscaling, monitoring, secretsmanager with TLS, ssm and ssmmessages with Session Manager). A service missing here means no node finishes prepare."
  value = {
    gateway   = local.gateway_services
    interface = local.interface_services
  }
}

output "client_lb_arn" {
  description = "ARN of the internal client load balancer (port 2379)."
  value       = aws_lb.client.arn
}

output "client_target_group_arn" {
  description = "ARN of the client target group: every peer's instance, health-checked on HTTP :2381 /health (roll-peers.sh gates each step on it)."
  value       = aws_lb_target_group.client.arn
}

output "asg_arns" {
  description = "Auto Scaling group ARNs, by peer index."
  value       = { for k, g in aws_autoscaling_group.peer : k => g.arn }
}

output "kms_key_id" {
  description = "ID of the KMS key protecting the cluster's data (the module's, or the one given as kms_key_arn)."
  value       = var.kms_key_arn == null ? aws_kms_key.this[0].key_id : var.kms_key_arn
}

output "lambda_dlq_arn" {
  description = "ARN of the dead-letter queue of peer-dns and of its EventBridge targets."
  value       = aws_sqs_queue.dlq.arn
}
