terraform {
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project = "steadfast"
      Cluster = var.cluster_name
    }
  }

  # node-bootstrap writes steadfast:initialized on a data volume once it has formatted it, and
  # steadfast:joined / steadfast:blank as its member joins or loses its data. The module
  # already ignores them on the volumes; this keeps them out of every other diff too.
  ignore_tags {
    keys = ["steadfast:initialized", "steadfast:joined", "steadfast:blank"]
  }
}
