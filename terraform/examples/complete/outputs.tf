output "vpc_id" {
  description = "ID of the example VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets, in zone order (peer N is in subnet N mod 3)."
  value       = aws_subnet.private[*].id
}

output "zone_id" {
  description = "Private hosted zone ID."
  value       = module.etcd.zone_id
}

output "srv_server_name" {
  description = "Server SRV record (etcd --discovery-srv uses the cluster domain)."
  value       = module.etcd.srv_server_name
}

output "srv_client_name" {
  description = "Client SRV record."
  value       = module.etcd.srv_client_name
}

output "client_endpoint" {
  description = "Client endpoint inside the VPC (internal NLB alias)."
  value       = module.etcd.client_endpoint
}

output "asg_names" {
  description = "Peer Auto Scaling groups, by peer index."
  value       = module.etcd.asg_names
}

output "volume_ids" {
  description = "Peer data volumes, by peer index."
  value       = module.etcd.volume_ids
}

output "lambda_function_name" {
  description = "peer-dns function name, for `cargo lambda deploy`."
  value       = module.etcd.lambda_function_name
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "client_security_group_id" {
  description = "Attach this security group to the instances that use etcd."
  value       = aws_security_group.clients.id
}

output "backup_bucket_name" {
  description = "Bucket of the etcd snapshots (see terraform/README.md, \"Backups and restore\")."
  value       = module.etcd.backup_bucket_name
}
