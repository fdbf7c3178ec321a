# shellcheck shell=sh
# What tasks/fail2ban.yml depends on: is fail2ban installed (check mode on a fresh host has
# none), is there an asterisk user to own the log files, does the Asterisk log directory
# ($HARDENING_F2B_LOG_DIR) exist, is the service running and enabled.
if [ -x /usr/bin/fail2ban-client ]; then echo fail2ban; fi
if getent passwd asterisk >/dev/null; then echo asterisk-user; fi
if [ -d "$HARDENING_F2B_LOG_DIR" ]; then echo log-dir; fi
echo "service $(systemctl is-active fail2ban) $(systemctl is-enabled fail2ban 2>/dev/null)"
