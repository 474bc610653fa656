variable "project_id" {
  description = "GCP project that owns the secrets."
  type        = string
}

variable "wandb_secret_id" {
  description = "Secret id of the Weights & Biases API key."
  type        = string
  default     = "wandb-api-key"
}

variable "wandb_accessors" {
  description = "IAM members granted roles/secretmanager.secretAccessor on the W&B secret."
  type        = list(string)
  default     = []
}

variable "create_slack_webhook_secret" {
  description = "Create the Slack webhook token secret container."
  type        = bool
  default     = false
}

variable "slack_webhook_secret_id" {
  description = "Secret id of the Slack webhook token."
  type        = string
  default     = "slack-webhook-token"
}

variable "slack_webhook_accessors" {
  description = "IAM members granted accessor on the Slack secret."
  type        = list(string)
  default     = []
}

variable "create_pagerduty_secret" {
  description = "Create the PagerDuty integration key secret container."
  type        = bool
  default     = false
}

variable "pagerduty_secret_id" {
  description = "Secret id of the PagerDuty integration key."
  type        = string
  default     = "pagerduty-integration-key"
}

variable "pagerduty_accessors" {
  description = "IAM members granted accessor on the PagerDuty secret."
  type        = list(string)
  default     = []
}

variable "generic_secrets" {
  description = "Additional secret containers: secret id => {accessors = [members]}."
  type = map(object({
    accessors = list(string)
  }))
  default = {}
}

variable "common_labels" {
  description = "Labels applied to every secret."
  type        = map(string)
  default     = {}
}
