terraform {
  backend "gcs" {
    bucket = "dtu-mlops-terraform-state-482907"
    prefix = "environments/dev"
  }
}
