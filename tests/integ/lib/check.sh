# Sourced by the integration scripts that need no servers (cli.sh,
# audit.sh): the failure count and check DESCRIPTION COMMAND...
fails=0
check() { # description, then a command that must succeed
    d=$1
    shift
    if "$@"; then echo "ok   $d"; else echo "FAIL $d"; fails=$((fails + 1)); fi
}
