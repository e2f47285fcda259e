#!/usr/bin/env bash
# A private one-node Slurm cluster on this machine (loopback only), for the Slurm job backend's
# tests and for trying cmd_backend=slurm without a cluster. Needs Debian's slurmctld, slurmd,
# slurm-client and munge (tools/install_system_deps.sh --slurm) and root (slurmd starts jobs).
#
#   tools/slurm_local.sh start <dir>    # munged, slurmctld, slurmd under <dir>; prints the
#                                       # SLURM_CONF to export
#   tools/slurm_local.sh stop <dir>     # stops them (the dir stays)
#
# Everything lives under <dir> (config, munge key and socket, state, logs, free ports chosen at
# start): several clusters can run side by side and nothing under /etc is touched. The node
# is "localhost" with this machine's CPUs and 90 % of its memory, in partition "cpu" (the
# name the template's conf/slurm.conf asks for with --gpu 0).
set -euo pipefail

usage="usage: $0 start|stop <dir>"
[ $# -eq 2 ] || { echo "${usage}" >&2; exit 2; }
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

free_port() {  # (a Python: $PYTHON, else python3)
  "${PYTHON:-python3}" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_config() {
  local cpus mem_mb user
  cpus=$(nproc --all)
  mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 * 0.9 / 1024 }' /proc/meminfo)
  user=$(id -un)
  cat >"${dir}/slurm.conf" <<CONF
ClusterName=speechprompt_local
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${dir}/munge/munge.socket
SlurmUser=${user}
SlurmdUser=${user}
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
PlugStackConfig=${dir}/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  : >"${dir}/plugstack.conf"
}

start_munge() {
  mkdir -p "${dir}/munge"
  chmod 700 "${dir}/munge"
  if [ ! -f "${dir}/munge/munge.key" ]; then
    head -c 1024 /dev/urandom >"${dir}/munge/munge.key"
    chmod 400 "${dir}/munge/munge.key"
  fi
  munged --force --socket="${dir}/munge/munge.socket" --key-file="${dir}/munge/munge.key" \
    --pid-file="${dir}/munge/munged.pid" --log-file="${dir}/munge/munged.log" \
    --seed-file="${dir}/munge/munged.seed"
}

wait_for_node() {  # until the node is idle (at most 30 s)
  local state
  for _ in $(seq 60); do
    state=$(sinfo --noheader --nodes localhost --format %t 2>/dev/null || true)
    if [ "${state}" = idle ]; then return 0; fi
    sleep 0.5
  done
  echo "$0: the node did not come up (state '${state}'); logs in ${dir}/log" >&2
  tail -n 5 "${dir}"/log/*.log >&2 || true
  return 1
}

stop_daemon() {  # stop_daemon <pid file>
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  kill "${pid}" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
  rm -f "$1"
}

case ${action} in
  start)
    for tool in munged slurmctld slurmd sinfo sbatch; do
      command -v "${tool}" >/dev/null \
        || { echo "$0: ${tool} not found: run tools/install_system_deps.sh --slurm" >&2; exit 1; }
    done
    if [ -f "${dir}/slurmctld.pid" ]; then
      echo "$0: a cluster runs in ${dir} already (stop it first)" >&2
      exit 1
    fi
    mkdir -p "${dir}/state" "${dir}/spool" "${dir}/log"
    write_config
    export SLURM_CONF=${dir}/slurm.conf
    start_munge
    slurmctld
    slurmd -N localhost
    wait_for_node
    echo "export SLURM_CONF=${dir}/slurm.conf"
    ;;
  stop)
    for daemon in slurmd slurmctld munge/munged; do stop_daemon "${dir}/${daemon}.pid"; done
    ;;
  *) echo "${usage}" >&2; exit 2 ;;
esac
