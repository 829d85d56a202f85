# Sourced by deploy/check-dockerfile.sh and deploy/check-package.sh (after `cd` to the
# repository): step, fail, free_port, a scratch directory $WORK, and at most one background
# server, $SERVER_PID, that the exit trap stops (its children too: an unshare or chroot wrapper
# may run the exporter as its child), showing the end of $WORK/exporter.log when the check
# failed.
# usage: WORK_PREFIX=multiproc-name source deploy/check-lib.sh
step() { echo "==> $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

WORK=$(mktemp -d -t "${WORK_PREFIX:-multiproc-check}.XXXXXX")
SERVER_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]]; then
    # shellcheck disable=SC2046  # the children list may be empty: split, unquoted
    kill $(cat "/proc/$SERVER_PID/task/$SERVER_PID/children" 2>/dev/null) "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  ! mountpoint -q "$WORK/rootfs/proc" 2>/dev/null || umount "$WORK/rootfs/proc"
  if [[ $rc -ne 0 && -f "$WORK/exporter.log" ]]; then echo "--- exporter log"; tail -20 "$WORK/exporter.log"; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM
