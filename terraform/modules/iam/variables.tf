variable "project_id" {
  description = "GCP project that owns the service accounts."
  type        = string
}

variable "name_suffix" {
  description = "Suffix appended to every account id (\"-dev\", \"-staging\", \"\" for prod)."
  type        = string
  default     = ""
}

variable "github_actions_roles" {
  description = "Project roles of the GitHub Actions deployer. The default is enough to push images and roll out Cloud Run revisions; the environment that runs `terraform apply` from CI passes its wider list explicitly."
  type        = list(string)
  default = [
    "roles/artifactregistry.writer",
    "roles/run.developer",
  ]
}

variable "cloud_run_roles" {
  description = "Project roles of the Cloud Run runtime SA. Bucket and secret access are granted per resource by the storage and secret-manager modules instead of project-wide."
  type        = list(string)
  default = [
    "roles/datastore.user",
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
  ]
}

variable "drift_detection_roles" {
  description = "Project roles of the drift detection job SA (publishes custom metrics, reads feedback). Bucket access is granted per bucket."
  type        = list(string)
  default = [
    "roles/monitoring.metricWriter",
    "roles/datastore.viewer",
  ]
}

variable "monitoring_roles" {
  description = "Project roles of the monitoring SA (custom metrics, shadow-mode reads)."
  type        = list(string)
  default = [
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/logging.logWriter",
  ]
}
