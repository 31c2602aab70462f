#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (as root), so
# that test files running in parallel do not race for apt. Tests still check
# for each tool themselves and install it (or say how) when run alone.
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15)
command -v pg_autoctl >/dev/null || need+=(postgresql-15-auto-failover)
command -v lego >/dev/null || need+=(lego)
command -v certbot >/dev/null || need+=(certbot)
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v promtool >/dev/null && command -v prometheus >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v systemd-analyze >/dev/null || need+=(systemd)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v chromium >/dev/null || need+=(chromium)
command -v script >/dev/null || need+=(bsdutils)
command -v rsyslogd >/dev/null || [ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
command -v certtool >/dev/null && command -v ocsptool >/dev/null || need+=(gnutls-bin)
command -v faketime >/dev/null || need+=(faketime)
# The fault lab: ip netns / veth / bridges and tc shaping (iproute2), iptables inside namespaces.
{ command -v tc >/dev/null || [ -x /usr/sbin/tc ]; } && { command -v ip >/dev/null || [ -x /usr/sbin/ip ]; } || need+=(iproute2)
command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || need+=(runc)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v crlutil >/dev/null && command -v vfychain >/dev/null && command -v certutil >/dev/null || need+=(libnss3-tools)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
# What scripts/install-lego-sid.sh needs to check and unpack sid's lego.
command -v gpgv >/dev/null || need+=(gpgv)
command -v xz >/dev/null || need+=(xz-utils)
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}"
fi
# The re-issuance campaign's ACME clients: lego 4.35.2 from Debian sid (ARI-aware), beside bookworm's lego 4.9.1.
"$(dirname "$0")/install-lego-sid.sh" >/dev/null
