terraform {
  # Preconditions and nullable variables need Terraform >= 1.3. The repository's offline
  # `terraform fmt` check runs Terraform 1.0.3, so this module sticks to syntax that 1.0.3 can
  # parse (no optional() object attributes, no newer built-in functions).
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}
