#!/usr/bin/env bash
# Import pre-existing GCP resources into an environment's Terraform state.
#
# Phase 2 of the migration: bring what already exists under Terraform without changing it.
# Success criterion: the final `terraform plan` shows 0 changes. A plan that would destroy
# anything means STOP (fix the configuration, never apply).
#
# Usage: scripts/import-existing.sh [-e dev|staging|prod] [-p PROJECT_ID] [-r REGION] [-y] [-n]
#   -e  environment (default prod)        -p  project id (default dtu-mlops-data-482907)
#   -r  region (default europe-west1)     -y  do not ask for confirmation
#   -n  dry run: print the import commands only
# Needs: terraform, gcloud (authenticated), jq. Run from anywhere.
# Exit: 0 plan clean, 2 plan has changes (review!), 1 error, 3 plan would destroy resources.
#
# Member-level IAM bindings (google_*_iam_member) are not imported: applying them is idempotent
# and does not touch other members.
set -euo pipefail

ENVIRONMENT=prod
PROJECT_ID=dtu-mlops-data-482907
REGION=europe-west1
ASSUME_YES=false
DRY_RUN=false

while getopts "e:p:r:yn" opt; do
  case "$opt" in
    e) ENVIRONMENT="$OPTARG" ;;
    p) PROJECT_ID="$OPTARG" ;;
    r) REGION="$OPTARG" ;;
    y) ASSUME_YES=true ;;
    n) DRY_RUN=true ;;
    *) sed -n '2,16p' "$0"; exit 1 ;;
  esac
done

case "$ENVIRONMENT" in
  prod) SUFFIX="" ;;
  dev | staging) SUFFIX="-$ENVIRONMENT" ;;
  *) echo "error: environment must be dev, staging or prod (got '$ENVIRONMENT')" >&2; exit 1 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="$ROOT/terraform/environments/$ENVIRONMENT"
[[ -d "$ENV_DIR" ]] || { echo "error: no environment directory $ENV_DIR" >&2; exit 1; }
if [[ "$DRY_RUN" != true ]]; then
  for tool in terraform gcloud jq; do
    command -v "$tool" >/dev/null || { echo "error: '$tool' not found on PATH" >&2; exit 1; }
  done
fi
cd "$ENV_DIR"

if [[ "$ENVIRONMENT" == prod ]]; then
  MODELS_BUCKET="dtu-mlops-data-482907_cloudbuild"
  DVC_BUCKET="dtu-mlops-dvc-storage-482907"
  DRIFT_BUCKET="ct-scan-drift-logs-482907"
  FIRESTORE_DB="(default)"
else
  MODELS_BUCKET="dtu-mlops-models-482907$SUFFIX"
  DVC_BUCKET="dtu-mlops-dvc-storage-482907$SUFFIX"
  DRIFT_BUCKET="ct-scan-drift-logs-482907$SUFFIX"
  FIRESTORE_DB="$ENVIRONMENT"
fi

echo "Importing existing resources: environment=$ENVIRONMENT project=$PROJECT_ID region=$REGION"
if [[ "$ASSUME_YES" != true && "$DRY_RUN" != true ]]; then
  read -r -p "Continue? [y/N] " answer
  [[ "$answer" =~ ^[Yy]$ ]] || { echo "aborted"; exit 1; }
fi

if [[ "$DRY_RUN" != true ]]; then
  terraform init -input=false >/dev/null
  MANAGED="$(terraform state list 2>/dev/null || true)"
else
  MANAGED=""
fi

imported=0 skipped=0 missing=0

# import ADDRESS ID EXISTS_CMD...: import when the resource exists and is not yet in state.
import() {
  local address="$1" id="$2"
  shift 2
  if grep -qxF "$address" <<<"$MANAGED"; then
    echo "  skip (already managed): $address"; skipped=$((skipped + 1)); return 0
  fi
  if [[ "$DRY_RUN" == true ]]; then
    echo "  terraform import '$address' '$id'"; return 0
  fi
  if ! "$@" >/dev/null 2>&1; then
    echo "  not found in GCP, will be created by apply: $address"; missing=$((missing + 1)); return 0
  fi
  echo "  import $address <- $id"
  terraform import -input=false "$address" "$id"
  imported=$((imported + 1))
}

P="$PROJECT_ID"
R="$REGION"

echo "1/7 buckets"
if [[ "$ENVIRONMENT" == prod ]]; then
  import 'module.storage.google_storage_bucket.terraform_state[0]' "dtu-mlops-terraform-state-482907" \
    gcloud storage buckets describe "gs://dtu-mlops-terraform-state-482907"
fi
import module.storage.google_storage_bucket.dvc "$DVC_BUCKET" gcloud storage buckets describe "gs://$DVC_BUCKET"
import module.storage.google_storage_bucket.models "$MODELS_BUCKET" gcloud storage buckets describe "gs://$MODELS_BUCKET"
import module.storage.google_storage_bucket.drift_logs "$DRIFT_BUCKET" gcloud storage buckets describe "gs://$DRIFT_BUCKET"

echo "2/7 artifact registry"
import module.artifact_registry.google_artifact_registry_repository.docker \
  "projects/$P/locations/$R/repositories/ct-scan-mlops$SUFFIX" \
  gcloud artifacts repositories describe "ct-scan-mlops$SUFFIX" --project "$P" --location "$R"

echo "3/7 service accounts"
for sa in github_actions:github-actions cloud_run:cloud-run drift_detection:drift-detection monitoring:monitoring; do
  name="${sa%%:*}"
  email="${sa#*:}$SUFFIX@$P.iam.gserviceaccount.com"
  import "module.iam.google_service_account.$name" "projects/$P/serviceAccounts/$email" \
    gcloud iam service-accounts describe "$email" --project "$P"
done

echo "4/7 workload identity"
import module.workload_identity.google_iam_workload_identity_pool.github \
  "projects/$P/locations/global/workloadIdentityPools/github-pool$SUFFIX" \
  gcloud iam workload-identity-pools describe "github-pool$SUFFIX" --project "$P" --location global
import module.workload_identity.google_iam_workload_identity_pool_provider.github \
  "projects/$P/locations/global/workloadIdentityPools/github-pool$SUFFIX/providers/github-provider$SUFFIX" \
  gcloud iam workload-identity-pools providers describe "github-provider$SUFFIX" \
  --workload-identity-pool "github-pool$SUFFIX" --project "$P" --location global

echo "5/7 secrets (containers only)"
import module.secret_manager.google_secret_manager_secret.wandb_api_key "projects/$P/secrets/wandb-api-key$SUFFIX" \
  gcloud secrets describe "wandb-api-key$SUFFIX" --project "$P"
if [[ "$ENVIRONMENT" != dev ]]; then
  import 'module.secret_manager.google_secret_manager_secret.slack_webhook[0]' \
    "projects/$P/secrets/slack-webhook-token$SUFFIX" gcloud secrets describe "slack-webhook-token$SUFFIX" --project "$P"
fi

echo "6/7 firestore"
if [[ "$ENVIRONMENT" != dev ]]; then
  import module.firestore.google_firestore_database.feedback "projects/$P/databases/$FIRESTORE_DB" \
    gcloud firestore databases describe --database="$FIRESTORE_DB" --project "$P"
  import module.firestore.google_firestore_field.feedback_ttl \
    "projects/$P/databases/$FIRESTORE_DB/collectionGroups/feedback/fields/expireAt" \
    gcloud firestore fields ttls list --database="$FIRESTORE_DB" --collection-group=feedback --project "$P"
fi

echo "7/7 cloud run, monitoring"
import module.cloud_run.google_cloud_run_v2_service.api "projects/$P/locations/$R/services/ct-scan-api$SUFFIX" \
  gcloud run services describe "ct-scan-api$SUFFIX" --project "$P" --region "$R"
import module.budget.google_pubsub_topic.billing_alerts "projects/$P/topics/billing-budget-alerts$SUFFIX" \
  gcloud pubsub topics describe "billing-budget-alerts$SUFFIX" --project "$P"
# Alert policies and channels have server-assigned ids: look them up by display name.
if [[ "$DRY_RUN" != true ]]; then
  channel="$(gcloud beta monitoring channels list --project "$P" --format=json \
    --filter='displayName="CT Scan Team Email"' | jq -r '.[0].name // empty')"
  [[ -n "$channel" ]] && import module.monitoring.google_monitoring_notification_channel.email "$channel" true
  catalog="$ROOT/terraform/alert_policies.yaml"
  # Non-prod policies carry an "[env] " display-name prefix (all environments share a project).
  prefix=""
  [[ "$ENVIRONMENT" != prod ]] && prefix="[$ENVIRONMENT] "
  policies="$(gcloud alpha monitoring policies list --project "$P" --format=json)"
  while IFS=$'\t' read -r key display; do
    name="$(jq -r --arg d "$prefix$display" '[.[] | select(.displayName == $d)][0].name // empty' <<<"$policies")"
    [[ -n "$name" ]] && import "module.monitoring.google_monitoring_alert_policy.catalog[\"$key\"]" "$name" true
  done < <(python3 -c 'import sys, yaml; [print(f"{k}\t{p[\"display_name\"]}") for k, p in yaml.safe_load(open(sys.argv[1]))["policies"].items()]' "$catalog")
fi

echo "imported=$imported skipped=$skipped not_found=$missing"
[[ "$DRY_RUN" == true ]] && exit 0

echo "Planning (success criterion: 0 changes)"
set +e
terraform plan -input=false -detailed-exitcode -out=import.tfplan
rc=$?
set -e
if [[ $rc -eq 1 ]]; then
  echo "error: terraform plan failed" >&2; exit 1
fi
destroys="$(terraform show -json import.tfplan | jq '[.resource_changes[]? | select(.change.actions | index("delete"))] | length')"
if [[ "$destroys" != 0 ]]; then
  echo "STOP: the plan would delete or replace $destroys resource(s). Fix the configuration; do not apply." >&2
  exit 3
fi
if [[ $rc -eq 0 ]]; then
  echo "Plan is clean: import complete."
else
  echo "Plan has changes (no destroys). Review them; reconcile the configuration until the plan is clean."
fi
exit $rc
