#!/usr/bin/env bash
# Replaces the example secrets of deploy/kubernetes/base with new random ones, in place: the
# mark-dead token (secret.yaml), the scrape password (scrape-auth.yaml) and its bcrypt hash
# (web-config.yaml), which must agree. Run it once on your copy, before `kubectl apply -k`;
# keep the files out of version control afterwards (or create the three Secrets from your
# secret manager instead, with the same names and keys).
#
# usage: deploy/kubernetes/set-secrets.sh [BASE_DIR]     (default: deploy/kubernetes/base)
# needs: openssl, htpasswd (apache2-utils)
set -euo pipefail
BASE=${1:-$(dirname "$0")/base}
for tool in openssl htpasswd; do command -v $tool >/dev/null || { echo "$tool not found" >&2; exit 1; }; done
grep -q 'REPLACE-ME-with-a-random-token' "$BASE/secret.yaml" || { echo "$BASE/secret.yaml: already replaced" >&2; exit 1; }

token=$(openssl rand -hex 32)
password=$(openssl rand -hex 24)
# bcrypt's alphabet is [./A-Za-z0-9$]: | is a safe sed delimiter, and & and \ never occur.
hash=$(htpasswd -nbBC 10 "" "$password" | tr -d ':\n')
sed -i "s|REPLACE-ME-with-a-random-token-0123456789abcdef|$token|" "$BASE/secret.yaml"
sed -i "s|REPLACE-ME-scrape-password|$password|" "$BASE/scrape-auth.yaml"
sed -i "s|^\(      prometheus: \).*|\1$hash|" "$BASE/web-config.yaml"
echo "new token in $BASE/secret.yaml, new scrape password in $BASE/scrape-auth.yaml, its hash in $BASE/web-config.yaml"
