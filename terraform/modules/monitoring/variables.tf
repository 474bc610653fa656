variable "project_id" {
  description = "GCP project that owns the policies and channels."
  type        = string
}

variable "environment" {
  description = "dev, staging or prod: selects the catalog's per-environment overrides."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "cloud_run_service_name" {
  description = "Cloud Run service substituted for $${service_name} in the catalog filters."
  type        = string
}

variable "alert_catalog_path" {
  description = "Path of the alert policy catalog; null means terraform/alert_policies.yaml relative to this module."
  type        = string
  default     = null
}

variable "enable_p1_p2_alerts" {
  description = "Enable P1/P2 policies. false = shadow mode: the policies exist but do not evaluate; ctscan_ops re-evaluates them from time series. P0 policies are always enabled."
  type        = bool
  default     = false
}

variable "alert_overrides" {
  description = "Per-policy tuning ({threshold_value, duration, enabled}), usually from alerts.auto.tfvars.json. Wins over the catalog."
  type = map(object({
    threshold_value = optional(number)
    duration        = optional(string)
    enabled         = optional(bool)
  }))
  default = {}
}

variable "alert_email" {
  description = "Email address of the team channel (every policy notifies it)."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address."
  }
}

variable "slack_enabled" {
  description = "Create the Slack channel. A separate flag because count cannot depend on a sensitive value."
  type        = bool
  default     = false
}

variable "slack_channel_name" {
  description = "Slack channel receiving alerts."
  type        = string
  default     = "#ct-scan-alerts"
}

variable "slack_auth_token" {
  description = "Slack app OAuth token (stored by the provider as a sensitive label)."
  type        = string
  default     = null
  sensitive   = true
}

variable "pagerduty_enabled" {
  description = "Create the PagerDuty channel."
  type        = bool
  default     = false
}

variable "pagerduty_service_key" {
  description = "PagerDuty integration key (stored by the provider as a sensitive label)."
  type        = string
  default     = null
  sensitive   = true
}

variable "common_labels" {
  description = "Labels added to every policy's user_labels and every channel's user_labels."
  type        = map(string)
  default     = {}
}
