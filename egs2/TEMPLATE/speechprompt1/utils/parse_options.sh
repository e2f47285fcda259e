# shellcheck shell=bash
# Command-line options for a bash script: source it after setting the defaults.
#
#   stage=1 nj=4 train_set=
#   option_names=(stage nj train_set)   # optional: the options (default: every lower-case,
#                                       # non-exported variable set so far)
#   help_message="Usage: $0 [options] <args>"    # optional
#   . utils/parse_options.sh                      # then "$@" holds the positional arguments
#
# "--foo-bar x", "--foo_bar x" and "--foo_bar=x" all set foo_bar=x; only options that exist can
# be set. An option whose default is true or false accepts only true or false. "--help" prints
# the help message and every option with its current value (and the comment at the end of its
# "name=default  # comment" line in the script); an unknown option is an error that lists the
# options. Option parsing stops at the first argument that is not an option, or "--".

if ! declare -p option_names >/dev/null 2>&1; then
  mapfile -t option_names < <(
    compgen -v | grep -E '^[a-z][a-z0-9_]*$' | grep -vxF -f <(compgen -e; echo option_names)
  )
fi

_po_known() {
  local name
  for name in "${option_names[@]}"; do [ "${name}" = "$1" ] && return 0; done
  return 1
}

_po_list() {  # each option, its value and the comment of its "name=default  # ..." line in $0
  local name note
  for name in "${option_names[@]}"; do
    note=$(grep -m 1 -E "^${name}=[^#]*#" "$0" 2>/dev/null | sed 's/^[^#]*# *//' || true)
    printf "  --%-22s %-14s %s\n" "${name}" "'${!name-}'" "${note}"
  done
}

while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -h | --help)
      [ -n "${help_message:-}" ] && printf '%s\n\n' "${help_message}"
      echo "Options (current values):"
      _po_list
      exit 0 ;;
    --*) ;;
    *) break ;;
  esac
  _po_name=${1#--}
  _po_value=
  _po_has_value=false
  if [[ ${_po_name} == *=* ]]; then
    _po_value=${_po_name#*=}
    _po_name=${_po_name%%=*}
    _po_has_value=true
  fi
  _po_name=${_po_name//-/_}
  if ! _po_known "${_po_name}"; then
    {
      echo "error: unknown option $1 (${0##*/} --help shows the values). Options:"
      _po_list
    } >&2
    exit 1
  fi
  if [ "${_po_has_value}" = false ]; then
    if [ $# -lt 2 ]; then
      echo "error: option $1 needs a value" >&2
      exit 1
    fi
    _po_value=$2
    shift
  fi
  shift
  case "${!_po_name-}" in
    true | false)
      if [ "${_po_value}" != true ] && [ "${_po_value}" != false ]; then
        echo "error: --${_po_name} must be true or false (got '${_po_value}')" >&2
        exit 1
      fi ;;
  esac
  printf -v "${_po_name}" '%s' "${_po_value}"
done
unset -v _po_name _po_value _po_has_value
unset -f _po_known _po_list
