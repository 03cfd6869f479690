# bash completion for vodqctl, vodq-scheduler, vodq-worker, vodq-compose and
# vodq-upload. Flags come from the program's own --help, so they never go
# stale; vodqctl also completes its commands and job states.
_vodq_complete()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} prog=$1
    case $prev in
        --config|--*-file|--file|--output|--checkpoint|--auth-file)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --state)
            COMPREPLY=($(compgen -W "submitted queued active paused waiting_auth delayed succeeded dead cancelled rejected" -- "$cur")); return ;;
        --log-level)
            COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
        --catch-up)
            COMPREPLY=($(compgen -W "latest all none" -- "$cur")); return ;;
        schedule)
            COMPREPLY=($(compgen -W "add list remove" -- "$cur")); return ;;
        tenant)
            COMPREPLY=($(compgen -W "set show rm" -- "$cur")); return ;;
        lane)
            COMPREPLY=($(compgen -W "set show" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        local flags
        flags=$("$prog" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    if [[ ${prog##*/} == vodqctl ]]; then
        local i words=0
        for ((i = 1; i < COMP_CWORD; i++)); do
            [[ ${COMP_WORDS[i]} != -* ]] && words=$((words + 1))
        done
        if ((words == 0)); then
            COMPREPLY=($(compgen -W "submit status watch list pause resume cancel retry refresh-auth dead stats schedule tenant lane" -- "$cur"))
            return
        fi
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _vodq_complete vodqctl vodq-scheduler vodq-worker vodq-compose vodq-upload
