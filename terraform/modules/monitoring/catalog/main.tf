# Pure resolution of the alert policy catalog for one environment: no provider, no resources,
# so it can be planned (and tested) offline. Precedence for the primary condition's
# threshold_value / duration and for enabled:
#   alert_overrides[policy]  >  catalog environments[env]  >  catalog base value
# Every condition may carry its own environments[env] threshold_value / duration (e.g. the floor of
# a minimum-traffic guard), applied below the policy-level precedence for the primary condition.
# Conditions: `condition` (one) or `conditions` (a list), then `additional_conditions`; the
# policy's combiner (OR | AND | AND_WITH_MATCHING_RESOURCE) goes to the resource as it is.

terraform {
  required_version = ">= 1.5.0"
}

locals {
  catalog  = yamldecode(file(var.catalog_path))
  policies = local.catalog.policies

  # All environments share one project, so project-unique names get an environment suffix
  # (prod keeps the bare names) and display names a prefix.
  log_metric_suffix   = var.environment == "prod" ? "" : "_${var.environment}"
  display_name_prefix = var.environment == "prod" ? "" : "[${var.environment}] "

  # Filters refer to log-based metrics by their catalog key; point them at the suffixed name.
  log_metric_pattern     = "/logging\\.googleapis\\.com/user/([A-Za-z0-9_]+)/"
  log_metric_replacement = "logging.googleapis.com/user/$${1}${local.log_metric_suffix}"

  resolved = {
    for key, p in local.policies : key => {
      display_name = "${local.display_name_prefix}${p.display_name}"
      severity     = p.severity
      runbook      = p.runbook
      notify       = [for kind in try(p.notify, ["email"]) : tostring(kind)]
      combiner     = try(p.combiner, "OR")
      auto_close   = try(p.auto_close, null)
      enabled = (
        try(var.alert_overrides[key].enabled, null) != null ? var.alert_overrides[key].enabled :
        try(p.environments[var.environment].enabled, null) != null ? p.environments[var.environment].enabled :
        p.severity == "P0" ? true : var.enable_p1_p2_alerts
      )
      conditions = [
        for idx, c in concat(try([p.condition], []), try(p.conditions, []), try(p.additional_conditions, [])) : {
          display_name = try(c.display_name, p.display_name)
          filter = replace(replace(replace(replace(c.filter,
            "$${service_name}", var.service_name),
            "$${environment}", var.environment),
          "$${project_id}", var.project_id), local.log_metric_pattern, local.log_metric_replacement)
          denominator_filter = try(c.denominator_filter, null) == null ? null : replace(replace(replace(replace(c.denominator_filter,
            "$${service_name}", var.service_name),
            "$${environment}", var.environment),
          "$${project_id}", var.project_id), local.log_metric_pattern, local.log_metric_replacement)
          aggregations = [
            for a in try(c.aggregations, []) : {
              alignment_period     = a.alignment_period
              per_series_aligner   = try(a.per_series_aligner, null)
              cross_series_reducer = try(a.cross_series_reducer, null)
              group_by_fields      = [for f in try(a.group_by_fields, []) : tostring(f)]
            }
          ]
          denominator_aggregations = [
            for a in try(c.denominator_aggregations, []) == null ? [] : try(c.denominator_aggregations, []) : {
              alignment_period     = a.alignment_period
              per_series_aligner   = try(a.per_series_aligner, null)
              cross_series_reducer = try(a.cross_series_reducer, null)
              group_by_fields      = [for f in try(a.group_by_fields, []) : tostring(f)]
            }
          ]
          comparison = c.comparison
          threshold_value = (
            idx == 0 && try(var.alert_overrides[key].threshold_value, null) != null ? var.alert_overrides[key].threshold_value :
            idx == 0 && try(p.environments[var.environment].threshold_value, null) != null ? p.environments[var.environment].threshold_value :
            try(c.environments[var.environment].threshold_value, null) != null ? c.environments[var.environment].threshold_value :
            c.threshold_value
          )
          duration = (
            idx == 0 && try(var.alert_overrides[key].duration, null) != null ? var.alert_overrides[key].duration :
            idx == 0 && try(p.environments[var.environment].duration, null) != null ? p.environments[var.environment].duration :
            try(c.environments[var.environment].duration, null) != null ? c.environments[var.environment].duration :
            c.duration
          )
          trigger_count           = try(c.trigger.count, null)
          trigger_percent         = try(c.trigger.percent, null)
          evaluation_missing_data = try(c.evaluation_missing_data, null)
        }
      ]
    }
  }

  log_based_metrics = {
    for key, m in try(local.catalog.log_based_metrics, {}) : "${key}${local.log_metric_suffix}" => {
      description = try(m.description, "")
      filter = replace(replace(replace(m.filter,
        "$${service_name}", var.service_name),
        "$${environment}", var.environment),
      "$${project_id}", var.project_id)
      metric_kind = try(m.metric_kind, "DELTA")
      value_type  = try(m.value_type, "INT64")
      unit        = try(m.unit, "1")
    }
  }

  unknown_overrides = [for key in keys(var.alert_overrides) : key if !contains(keys(local.policies), key)]
}

output "catalog_version" {
  description = "catalog_version of the catalog file."
  value       = try(local.catalog.catalog_version, null)
}

output "policies" {
  description = "Resolved policies for this environment, keyed by catalog key."
  value       = local.resolved

  precondition {
    condition     = length(local.unknown_overrides) == 0
    error_message = "alert_overrides names policies that are not in the catalog: ${join(", ", local.unknown_overrides)}."
  }
}

output "log_based_metrics" {
  description = "Log-based metrics the catalog needs, with filters resolved for this environment."
  value       = local.log_based_metrics
}
