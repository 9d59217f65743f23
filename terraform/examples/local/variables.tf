variable "moto_endpoint" {
  description = "URL of the moto server standing in for every AWS API, e.g. https://127.0.0.1:4566 (scripts/tf-local.sh passes the launcher's https port)."
  type        = string

  validation {
    condition     = can(regex("^https?://(127\\.[0-9]+\\.[0-9]+\\.[0-9]+|localhost|\\[::1\\]):[0-9]+/?$", var.moto_endpoint))
    error_message = "The moto_endpoint must be a loopback URL such as https://127.0.0.1:4566: this example never talks to anything else."
  }
}

variable "cluster_name" {
  description = "Cluster name C."
  type        = string
  default     = "steadfast"
}

variable "domain" {
  description = "Private zone domain D; peers are peer-N.<cluster_name>.<domain>."
  type        = string
  default     = "etcd.internal"
}

variable "peer_count" {
  description = "Number of etcd peers (odd, at least 3)."
  type        = number
  default     = 9
}

variable "lifecycle_hook_heartbeat_timeout" {
  description = "Heartbeat timeout of the LAUNCHING hook, in seconds (the module's default is 300)."
  type        = number
  default     = 300
}

variable "node_bootstrap_path" {
  description = "Any existing file to upload as node-bootstrap (the Rust end-to-end test passes a debug build)."
  type        = string
}

variable "lambda_zip_path" {
  description = "Any existing file to create the peer-dns function from (moto stores the code; it never runs it)."
  type        = string
}

variable "etcd_archive_path" {
  description = "Any existing file to upload as the etcd tarball. Its own SHA-256 is passed as etcd_sha256, so the module's upload check and the install script's check both hold for it."
  type        = string
}
