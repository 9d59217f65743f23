# ---------------------------------------------------------------------------------------------
# Private zone D, static SRV records for C.D, and the peer-N.C.D A records, seeded once and
# then owned by the peer-dns Lambda.
# ---------------------------------------------------------------------------------------------

resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:DNSSEC signing is not supported for private hosted zones.
  #checkov:skip=CKV2_AWS_39:Route 53 query logging applies to public hosted zones only; private zone queries are logged through Route 53 Resolver query logging, configured per VPC by the network owner.
  count = var.zone_id == null ? 1 : 0

  name    = var.domain
  comment = "steadfast: private zone for etcd cluster ${var.cluster_name}"

  vpc {
    vpc_id = var.vpc_id
  }

  tags = local.common_tags

  lifecycle {
    # Other VPC associations may be added outside this module (aws_route53_zone_association).
    ignore_changes = [vpc]
  }
}

# The zone's SOA, with a short negative TTL: a resolver caches "no such name" for the SOA's TTL
# or its minimum field, whichever is lower (RFC 2308), and Route 53's defaults make that 900 s.
# A client that asks for the client endpoint before its alias exists (the NLB takes minutes),
# or a name that briefly does not exist, would otherwise be refused for 15 minutes. Only in a
# zone the module creates: a given zone's SOA is its owner's.
resource "aws_route53_record" "soa" {
  count = var.zone_id == null ? 1 : 0

  zone_id         = aws_route53_zone.this[0].zone_id
  name            = var.domain
  type            = "SOA"
  ttl             = var.dns_negative_ttl
  allow_overwrite = true
  # primary server, contact, serial, refresh, retry, expire, minimum (the negative TTL)
  records = ["${trimsuffix(aws_route53_zone.this[0].primary_name_server, ".")}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 ${var.dns_negative_ttl}"]
}

data "aws_route53_zone" "given" {
  count = var.zone_id == null ? 0 : 1

  zone_id      = var.zone_id
  private_zone = true
}

locals {
  zone_id  = var.zone_id == null ? aws_route53_zone.this[0].zone_id : var.zone_id
  zone_arn = "arn:${local.partition}:route53:::hostedzone/${local.zone_id}"
}

# The nine names, in peer order. Static: membership never changes, so nothing ever rewrites
# these records (the Lambda only UPSERTs A records).
resource "aws_route53_record" "srv_server" {
  zone_id = local.zone_id
  name    = local.srv_server_name
  type    = "SRV"
  ttl     = 300
  records = [for n in range(var.peer_count) : "0 0 ${local.peer_port} ${local.peers[tostring(n)].fqdn}."]

  lifecycle {
    precondition {
      condition     = var.zone_id == null ? true : trimsuffix(data.aws_route53_zone.given[0].name, ".") == var.domain
      error_message = "The zone given by zone_id is not named after var.domain."
    }
  }
}

resource "aws_route53_record" "srv_client" {
  zone_id = local.zone_id
  name    = local.srv_client_name
  type    = "SRV"
  ttl     = 300
  records = [for n in range(var.peer_count) : "0 0 ${local.client_port} ${local.peers[tostring(n)].fqdn}."]
}

# Seeded A records. Every peer name must resolve, to a distinct address, before the first
# node bootstraps (a missing name makes etcd form a smaller cluster). The seeds are hosts of
# placeholder_network (TEST-NET-1 by default) that nothing answers on; peer-dns replaces them
# with real private IPs as instances launch, and Terraform never resets them.
resource "aws_route53_record" "peer" {
  #checkov:skip=CKV2_AWS_23:Seeded on purpose with placeholder addresses (TEST-NET-1 by default) that nothing answers on; peer-dns points each name at its instance as soon as one launches.
  for_each = local.peers

  zone_id         = local.zone_id
  name            = each.value.fqdn
  type            = "A"
  ttl             = var.record_ttl
  records         = [each.value.seed_ip]
  allow_overwrite = false

  lifecycle {
    ignore_changes = [records]
    precondition {
      # Hosts offset .. peer_count - 1 + offset, all below the broadcast address.
      condition     = var.peer_count - 1 + local.placeholder_offset <= pow(2, 32 - tonumber(split("/", local.placeholder_network)[1])) - 2
      error_message = "The placeholder_network ${local.placeholder_network} has no room for ${var.peer_count} placeholder hosts starting at host ${local.placeholder_offset}."
    }
  }
}

# A stable client name for the load balancer, so clients never depend on the NLB's own DNS
# name (which changes if the NLB is ever replaced).
resource "aws_route53_record" "client_alias" {
  zone_id = local.zone_id
  name    = local.client_alias
  type    = "A"

  alias {
    name                   = aws_lb.client.dns_name
    zone_id                = aws_lb.client.zone_id
    evaluate_target_health = false
  }
}
