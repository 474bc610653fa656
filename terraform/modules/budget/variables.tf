variable "project_id" {
  description = "GCP project the budget watches."
  type        = string
}

variable "project_number" {
  description = "Numeric project number (budget filters use it)."
  type        = string
}

variable "billing_account" {
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX)."
  type        = string
}

variable "budget_display_name" {
  description = "Display name of the budget."
  type        = string
  default     = "CT Scan MLOps Monthly Budget"
}

variable "monthly_budget_amount" {
  description = "Monthly budget in currency_code units."
  type        = number
  default     = 500
}

variable "currency_code" {
  description = "Budget currency (must match the billing account)."
  type        = string
  default     = "USD"
}

variable "threshold_percents" {
  description = "Fractions of the budget at which notifications fire (current spend)."
  type        = list(number)
  default     = [0.5, 0.9, 1.0, 1.1]
}

variable "topic_name" {
  description = "Pub/Sub topic receiving budget notifications."
  type        = string
  default     = "billing-budget-alerts"
}

variable "create_pubsub_subscription" {
  description = "Create a pull subscription on the topic (7 days retention)."
  type        = bool
  default     = false
}

variable "monitoring_notification_channels" {
  description = "Monitoring notification channel ids that also receive budget alerts."
  type        = list(string)
  default     = []
}

variable "common_labels" {
  description = "Labels applied to the topic."
  type        = map(string)
  default     = {}
}
