terraform {
  # Preconditions and nullable variables need Terraform >= 1.3. The repository's checks run
  # Terraform 1.11 (fmt, validate, plan and apply against moto).
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}
