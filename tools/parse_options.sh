# Kaldi-style option parsing for the recipe scripts. Source it AFTER declaring every option variable
# with its default (and a help_message), then use what is left in "$@" as positional arguments:
#
#     nj=4
#     use_gpu=false
#     help_message="Usage: $0 [options] <dir>"
#     . tools/parse_options.sh
#
#   --nj 8 / --nj=8      sets nj (an option --foo-bar sets the variable foo_bar)
#   --use_gpu true       booleans take an explicit value: true or false
#   --nj 8               an option whose default is a whole number takes a whole number (not -1, not "one")
#   --config FILE        reads more options from FILE, one "--opt value" per line (# starts a comment);
#                        they apply where --config stands, so later options on the command line win
#   --help, -h           prints $help_message and exits 0 (or calls the script's function usage, if it has
#                        one: its help can then show the values the options before --help gave)
#   --                   ends the options
# An option whose variable is not declared is an error ("unknown option --foo-bar"), exit 1.
# Parsing stops at the first argument that does not start with "--".
#
# A script that passes the options it does not know on to another one (a recipe's run.sh to tools/st.sh,
# as ESPnet's run.sh ends in "./asr.sh ... $@") sets forward_to=(COMMAND [ARG...]) before sourcing this:
#   - an undeclared option, on the command line or in a --config file, is appended to forward_to as
#     "--opt" "value" (in order, so a later one still wins); COMMAND checks it when forward_to runs;
#   - --help prints help_message, then runs "${forward_to[@]}" --help (COMMAND's help, showing the values
#     the arguments before --help gave);
#   - COMMAND's messages name this script (the one the user ran): see OPTIONS_SCRIPT below.

# The script named in messages: OPTIONS_SCRIPT, set by a script forwarding its options to this one, or this one.
_po_me="${OPTIONS_SCRIPT:-$(basename "$0")}"
_po_forward=false
if [[ "$(declare -p forward_to 2> /dev/null)" == "declare -a"* ]]; then
    _po_forward=true
    export OPTIONS_SCRIPT="${_po_me}"
else
    unset OPTIONS_SCRIPT  # consumed: the jobs this script starts name themselves
fi

# _po_set OPTION VALUE: set the variable named by --OPTION, checking it exists (and booleans, whole numbers);
# with forward_to, an undeclared option is appended to it instead.
_po_set() {
    local _po_name="${1#--}"
    _po_name="${_po_name//-/_}"
    if [[ ! "${_po_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || ! declare -p "${_po_name}" > /dev/null 2>&1; then
        if [ "${_po_forward}" = true ]; then
            forward_to+=("$1" "$2")
            return
        fi
        echo "${_po_me}: unknown option $1 (see ${_po_me} --help)" >&2
        exit 1
    fi
    local _po_cur="${!_po_name}"
    if [[ "${_po_cur}" == true || "${_po_cur}" == false ]] && [[ "$2" != true && "$2" != false ]]; then
        echo "${_po_me}: option $1 takes true or false, not '$2'" >&2
        exit 1
    fi
    if [[ "${_po_cur}" =~ ^[0-9]+$ ]] && [[ ! "$2" =~ ^[0-9]+$ ]]; then
        echo "${_po_me}: option $1 takes a whole number (0, 1, 2, ...), not '$2'" >&2
        exit 1
    fi
    printf -v "${_po_name}" '%s' "$2"
}

# _po_read_config FILE: apply the "--opt value" lines of FILE.
_po_read_config() {
    if [ ! -f "$1" ]; then
        echo "${_po_me}: --config $1: no such file" >&2
        exit 1
    fi
    local _po_line _po_opt _po_value _po_lineno=0
    while IFS= read -r _po_line || [ -n "${_po_line}" ]; do
        _po_lineno=$((_po_lineno + 1))
        _po_line="${_po_line#"${_po_line%%[![:space:]]*}"}"          # strip leading blanks
        [[ -z "${_po_line}" || "${_po_line}" == "#"* ]] && continue
        if [[ "${_po_line}" != --* ]]; then
            echo "${_po_me}: $1:${_po_lineno}: expected '--option value', got: ${_po_line}" >&2
            exit 1
        fi
        if [[ "${_po_line}" == --*=* && "${_po_line%%=*}" != *" "* ]]; then
            _po_opt="${_po_line%%=*}" _po_value="${_po_line#*=}"
        else
            read -r _po_opt _po_value <<< "${_po_line}"
        fi
        # one pair of surrounding quotes is removed: --src_langs "fr de"
        if [[ "${_po_value}" =~ ^\"(.*)\"$ || "${_po_value}" =~ ^\'(.*)\'$ ]]; then
            _po_value="${BASH_REMATCH[1]}"
        fi
        _po_set "${_po_opt}" "${_po_value}"
    done < "$1"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --help | -h)
            if declare -F usage > /dev/null; then
                usage
            else
                printf '%s\n' "${help_message:-Usage: $0 [options] (no help_message defined)}"
            fi
            [ "${_po_forward}" = false ] || exec "${forward_to[@]}" --help
            exit 0 ;;
        --)
            shift
            break ;;
        --*=*)
            if [ "${1%%=*}" = --config ]; then _po_read_config "${1#*=}"; else _po_set "${1%%=*}" "${1#*=}"; fi
            shift ;;
        --*)
            if [ $# -lt 2 ]; then
                echo "${_po_me}: option $1 needs a value" >&2
                exit 1
            fi
            if [ "$1" = --config ]; then _po_read_config "$2"; else _po_set "$1" "$2"; fi
            shift 2 ;;
        *)
            break ;;
    esac
done
unset -f _po_set _po_read_config
unset _po_me _po_forward
