# shellcheck shell=sh
# Copied verbatim in roles/asterisk and roles/hardening (each role stands alone);
# tests/unit/test_role_file_copies.py keeps the copies identical.
# One line per path: "<sha1 of the content|dir|missing> <owner>:<group>:<octal mode> <path>".
for path; do
  if [ -d "$path" ]; then what=dir
  elif [ -f "$path" ]; then what=$(sha1sum < "$path" | cut -c1-40)
  else echo "missing - $path"; continue; fi
  echo "$what $(stat -c %U:%G:%a "$path") $path"
done
