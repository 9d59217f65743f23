# What the Rust end-to-end test reads (scripts/tf-local.sh up prints `terraform output -json`).
# Every value is read back from the resources Terraform created, never restated.

output "cluster_name" {
  description = "Cluster name C (from the peer-dns function's environment)."
  value       = module.etcd.cluster_name
}

output "domain" {
  description = "Zone domain D (from the peer-dns function's environment)."
  value       = module.etcd.domain
}

output "zone_id" {
  description = "Private hosted zone ID."
  value       = module.etcd.zone_id
}

output "vpc_id" {
  description = "VPC ID."
  value       = aws_vpc.this.id
}

output "subnet_ids" {
  description = "Subnets in zone order (peer N is in subnet N mod 3)."
  value       = aws_subnet.private[*].id
}

output "asg_names" {
  description = "Peer Auto Scaling groups, by peer index."
  value       = module.etcd.asg_names
}

output "launch_template_ids" {
  description = "Peer launch templates, by peer index."
  value       = module.etcd.launch_template_ids
}

output "volume_ids" {
  description = "Peer data volumes, by peer index."
  value       = module.etcd.volume_ids
}

output "lifecycle_hook_name" {
  description = "The LAUNCHING lifecycle hook on every peer ASG."
  value       = module.etcd.lifecycle_hook_name
}

output "lambda_function_name" {
  description = "peer-dns function name."
  value       = module.etcd.lambda_function_name
}

output "event_rule_names" {
  description = "EventBridge rules that invoke peer-dns."
  value       = module.etcd.event_rule_names
}

output "node_role_arns" {
  description = "Per-peer node roles, by peer index."
  value       = module.etcd.node_role_arns
}

output "artifacts_bucket" {
  description = "Artifacts bucket (node-bootstrap and etcd under content-addressed keys)."
  value       = module.etcd.artifacts_bucket
}

output "backup_bucket_name" {
  description = "Backup bucket (etcd snapshots under <prefix><cluster>/snapshots/)."
  value       = module.etcd.backup_bucket_name
}

output "placeholder_network" {
  description = "Network the A records were seeded from."
  value       = module.etcd.placeholder_network
}

output "client_security_group_id" {
  description = "Security group whose members may reach the etcd client port."
  value       = aws_security_group.clients.id
}

output "kms_key_arn" {
  description = "The cluster key (the backups' and the CA secret's)."
  value       = module.etcd.kms_key_arn
}

output "ca_secret_name" {
  description = "The CA secret's name, new with every deployment (null without TLS)."
  value       = module.etcd.ca_secret_name
}

output "client_endpoint" {
  description = "The client endpoint (the NLB's alias), host:port."
  value       = module.etcd.client_endpoint
}

output "required_vpc_endpoints" {
  description = "What the nodes may reach: the sandbox's reachability allow-list is set from it."
  value       = module.etcd.required_vpc_endpoints
}

output "client_target_group_arn" {
  description = "The client target group (the sandbox registers the instances in service)."
  value       = module.etcd.client_target_group_arn
}
