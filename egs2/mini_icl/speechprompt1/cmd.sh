# shellcheck shell=bash
# How the recipe's parallel jobs run. Every *_cmd takes the same arguments:
#
#   ${train_cmd} JOB=1:N <log with JOB> <command with JOB ...>
#
# and runs N jobs, each with JOB replaced by its number, waits for all of them and fails if
# one fails. train_cmd is used for data jobs (formatting, units), decode_cmd for inference.
# (Training itself runs in the foreground; --ngpu picks the GPUs.)
#
# Another backend plugs in as a script with the same interface, e.g. a utils/slurm_jobs.sh
# (not shipped) that submits "sbatch --array=1-N --wait --output=<log with %a> --wrap ..."
# with JOB replaced by $SLURM_ARRAY_TASK_ID, then set cmd_backend=slurm below.
cmd_backend=local

# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
case "${cmd_backend}" in
  local)
    train_cmd="utils/run_jobs.sh"
    decode_cmd="utils/run_jobs.sh"
    ;;
  slurm)
    train_cmd="utils/slurm_jobs.sh --mem 8G --cpus-per-task 2"
    decode_cmd="utils/slurm_jobs.sh --mem 4G"
    ;;
  *)
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2
    return 1
    ;;
esac
