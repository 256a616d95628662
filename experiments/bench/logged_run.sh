# Sourced by the benchmark scripts (train_bench.sh, ddp_vs_torchrun.sh): one runner for their measurements.
#   logged_run SCRIPT DIR SECONDS NAME COMMAND...
# runs COMMAND with its output in DIR/NAME.log, shows the last 3 lines, and counts a failure in `failed` (not fatal).
failed=${failed:-0}
logged_run() {
  local script=$1 dir=$2 limit=$3 name=$4; shift 4
  echo "== $name"
  timeout "$limit" "$@" > "$dir/$name.log" 2>&1; local rc=$?
  tail -n 3 "$dir/$name.log"
  [ $rc -eq 0 ] || { echo "$script: $name failed (exit $rc); see $dir/$name.log"; failed=$((failed + 1)); }
}
