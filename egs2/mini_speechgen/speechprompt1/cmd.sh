# shellcheck shell=bash
# How the recipe's jobs run. Every *_cmd takes the same arguments (utils/job_lib.sh):
#
#   ${train_cmd} [--mem 4G] [--num_threads N] [--gpu N] [--max_jobs_run P] \
#       JOB=1:N <log with JOB> <command with JOB ...>
#
# and runs N jobs, each with JOB replaced by its number, waits for all of them and fails if
# one fails, naming its log. train_cmd runs the data jobs (formatting, units), decode_cmd
# inference, cuda_cmd the prompt training (one process, or one srun step of --num_nodes ×
# processes per node on Slurm; see the README's "Running on a cluster").
#   local: utils/run_jobs.sh, the jobs in parallel on this machine (resources ignored)
#   slurm: utils/slurm_jobs.sh, one Slurm array job (sbatch --array --wait); the resources map
#          to sbatch options through conf/slurm.conf (partition names: edit it)
# The backend can also be chosen for one run: cmd_backend=slurm ./run.sh ...
cmd_backend=${cmd_backend:-local}

# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
case "${cmd_backend}" in
  local)
    train_cmd="utils/run_jobs.sh"
    decode_cmd="utils/run_jobs.sh"
    cuda_cmd="utils/run_jobs.sh"
    ;;
  slurm)
    train_cmd="utils/slurm_jobs.sh --mem 2G"
    decode_cmd="utils/slurm_jobs.sh --mem 2G"
    cuda_cmd="utils/slurm_jobs.sh --mem 2G"
    ;;
  *)
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2
    return 1
    ;;
esac
