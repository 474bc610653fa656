variable "project_id" {
  description = "GCP project id."
  type        = string
  default     = "dtu-mlops-data-482907"
}

variable "project_number" {
  description = "Numeric GCP project number."
  type        = string
}

variable "region" {
  description = "Primary region."
  type        = string
  default     = "europe-west1"
}

variable "billing_account" {
  description = "Billing account id for the budget."
  type        = string
}

variable "alert_email" {
  description = "Team email receiving alerts."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (owner/name) allowed to use workload identity."
  type        = string
  default     = "SalisMaxima/ct_scan_mlops"
}

variable "container_image" {
  description = "Initial API image; later images are rolled out by the deploy workflow."
  type        = string
  default     = "europe-west1-docker.pkg.dev/dtu-mlops-data-482907/ct-scan-mlops-staging/ct-scan-api:latest"
}

variable "enable_p1_p2_alerts" {
  description = "Enable P1/P2 alert policies (false = shadow mode)."
  type        = bool
  default     = true
}

variable "alert_overrides" {
  description = "Alert tuning output (alerts.auto.tfvars.json): policy => {threshold_value, duration, enabled}."
  type = map(object({
    threshold_value = optional(number)
    duration        = optional(string)
    enabled         = optional(bool)
  }))
  default = {}
}

variable "slack_enabled" {
  description = "Create the Slack notification channel (needs slack_auth_token)."
  type        = bool
  default     = false
}

variable "slack_auth_token" {
  description = "Slack app OAuth token for the notification channel. Pass via TF_VAR_slack_auth_token, never in a committed file."
  type        = string
  default     = null
  sensitive   = true
}

variable "pagerduty_enabled" {
  description = "Create the PagerDuty notification channel (needs pagerduty_service_key)."
  type        = bool
  default     = false
}

variable "pagerduty_service_key" {
  description = "PagerDuty integration key. Pass via TF_VAR_pagerduty_service_key."
  type        = string
  default     = null
  sensitive   = true
}
