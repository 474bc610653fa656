variable "catalog_path" {
  description = "Path of the alert policy catalog (terraform/alert_policies.yaml)."
  type        = string
}

variable "environment" {
  description = "Environment whose per-environment catalog overrides apply."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "project_id" {
  description = "Substituted for $${project_id} in filters."
  type        = string
}

variable "service_name" {
  description = "Cloud Run service substituted for $${service_name} in filters."
  type        = string
}

variable "enable_p1_p2_alerts" {
  description = "Enable P1/P2 policies (false = shadow mode). P0 policies are always enabled."
  type        = bool
  default     = false
}

variable "alert_overrides" {
  description = "Tuning output (alerts.auto.tfvars.json): policy => {threshold_value, duration, enabled}. Wins over the catalog."
  type = map(object({
    threshold_value = optional(number)
    duration        = optional(string)
    enabled         = optional(bool)
  }))
  default = {}
}
