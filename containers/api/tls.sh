#!/bin/bash
# The API host's TLS key and self-signed certificate: made once, when missing, then the certificate
# (never the key) published in the SSM parameter that clients pin.
#
#   reelsight-api-tls            make the pair if missing, publish the certificate
#   reelsight-api-tls --rotate   replace the pair, publish the new certificate
#
# Settings come from $REELSIGHT_TLS_CONF (default /etc/reelsight/tls.env, written by the boot script):
#   REELSIGHT_TLS_DIR        where key.pem and cert.pem live
#   REELSIGHT_TLS_NAME       the API's private DNS name, the certificate's first name
#   REELSIGHT_TLS_PARAMETER  the SSM parameter to publish in (empty: do not publish)
#   REELSIGHT_TLS_OWNER      the user id that reads key.pem (the API container's user)
#   REELSIGHT_TLS_DAYS       validity of a new certificate
#   AWS_DEFAULT_REGION       the parameter's region
set -euo pipefail

conf=${REELSIGHT_TLS_CONF:-/etc/reelsight/tls.env}
if [ -f "$conf" ]; then
    set -a
    # shellcheck disable=SC1090
    . "$conf"
    set +a
fi
dir=${REELSIGHT_TLS_DIR:?REELSIGHT_TLS_DIR is not set}
name=${REELSIGHT_TLS_NAME:?REELSIGHT_TLS_NAME is not set}
parameter=${REELSIGHT_TLS_PARAMETER:-}
owner=${REELSIGHT_TLS_OWNER:-$(id -u)}
days=${REELSIGHT_TLS_DAYS:-3650}
imds=${REELSIGHT_TLS_IMDS:-http://169.254.169.254}

# The instance's own name and address, from IMDSv2, when there is one (not on a workstation).
instance_names() {
    local token
    token=$(curl -sf --connect-timeout 1 --max-time 2 -X PUT \
        -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$imds/latest/api/token") || return 0
    local host ip
    host=$(curl -sf --max-time 2 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/local-hostname") || true
    ip=$(curl -sf --max-time 2 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/local-ipv4") || true
    [ -n "$host" ] && printf ',DNS:%s' "$host"
    [ -n "$ip" ] && printf ',IP:%s' "$ip"
    return 0
}

make_pair() {
    local names tmp
    # localhost: the Session Manager tunnel (reelsight api tunnel) reaches the API as localhost.
    names="DNS:$name,DNS:localhost,IP:127.0.0.1$(instance_names)"
    tmp=$(mktemp -d "$dir/.new.XXXXXX")
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
        -days "$days" -subj "/CN=$name" \
        -addext "subjectAltName=$names" \
        -addext "basicConstraints=critical,CA:FALSE" \
        -addext "keyUsage=critical,digitalSignature" \
        -addext "extendedKeyUsage=serverAuth" \
        -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
    chown "$owner" "$tmp/key.pem"
    chmod 0400 "$tmp/key.pem"
    chmod 0444 "$tmp/cert.pem"
    mv -f "$tmp/key.pem" "$dir/key.pem"
    mv -f "$tmp/cert.pem" "$dir/cert.pem"
    rmdir "$tmp"
    echo "reelsight-api-tls: new certificate for $names"
}

install -d -m 0755 "$dir"
if [ "${1:-}" = "--rotate" ] || [ ! -s "$dir/key.pem" ] || [ ! -s "$dir/cert.pem" ]; then
    make_pair
fi
openssl x509 -in "$dir/cert.pem" -noout -fingerprint -sha256
if [ -n "$parameter" ]; then
    aws ssm put-parameter --name "$parameter" --type String --overwrite \
        --value "file://$dir/cert.pem" >/dev/null
    echo "reelsight-api-tls: certificate published in $parameter"
fi
