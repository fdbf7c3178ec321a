# shellcheck shell=sh
# UFW's status, its rule tuples and the last IPV6= line of /etc/default/ufw (tasks/ufw.yml).
if [ -x /usr/sbin/ufw ]; then
  LANG=C /usr/sbin/ufw status verbose || exit 1
  grep -h '^### tuple ### ' /etc/ufw/user.rules /etc/ufw/user6.rules
  echo "### default $(awk '/^IPV6=/ {v = $0} END {print v}' /etc/default/ufw)"
else
  echo '### ufw not installed'
fi
