;; A deny-all `wasi_snapshot_preview1` for Go components.
;;
;; The Go runtime imports these 15 WASI functions and calls some of them
;; while it starts (clocks, random), so the functions cannot simply trap, and
;; the standard preview1 adapter cannot be used: it needs a real WASI host and
;; its allocations clash with Go's own use of `memory.grow`. This module
;; answers every call locally, so the component imports nothing from WASI:
;; - clock_time_get: a fake clock that advances 1 µs per call;
;; - random_get: a fixed xorshift sequence (deterministic, not secret);
;; - fd_write: output is discarded (every byte reported written);
;; - no args, no environment, no preopened directories (EBADF);
;; - proc_exit traps.
;; `cargo xtask examples` attaches an empty world to it and passes it to
;; wit-component as the adapter for `wasi_snapshot_preview1`.
(module
  (import "env" "memory" (memory 0))
  (global $now (mut i64) (i64.const 0))
  (global $seed (mut i64) (i64.const 0x2545f4914f6cdd1d))

  (func (export "clock_time_get") (param $id i32) (param $precision i64) (param $out i32) (result i32)
    (global.set $now (i64.add (global.get $now) (i64.const 1000)))
    (i64.store (local.get $out) (global.get $now))
    (i32.const 0))

  (func (export "random_get") (param $buf i32) (param $len i32) (result i32)
    (local $x i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $x (global.get $seed))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (global.set $seed (local.get $x))
        (i32.store8 (local.get $buf) (i32.wrap_i64 (local.get $x)))
        (local.set $buf (i32.add (local.get $buf) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func (export "fd_write") (param $fd i32) (param $iovs i32) (param $count i32) (param $written i32) (result i32)
    (local $total i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $count)))
        (local.set $total (i32.add (local.get $total) (i32.load offset=4 (local.get $iovs))))
        (local.set $iovs (i32.add (local.get $iovs) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $written) (local.get $total))
    (i32.const 0))

  (func $no_entries (param $count i32) (param $size i32) (result i32)
    (i32.store (local.get $count) (i32.const 0))
    (i32.store (local.get $size) (i32.const 0))
    (i32.const 0))
  (func (export "args_sizes_get") (param i32 i32) (result i32)
    (call $no_entries (local.get 0) (local.get 1)))
  (func (export "environ_sizes_get") (param i32 i32) (result i32)
    (call $no_entries (local.get 0) (local.get 1)))
  (func (export "args_get") (param i32 i32) (result i32) (i32.const 0))
  (func (export "environ_get") (param i32 i32) (result i32) (i32.const 0))

  ;; EBADF: there are no preopened directories.
  (func (export "fd_prestat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_prestat_dir_name") (param i32 i32 i32) (result i32) (i32.const 8))

  ;; Every descriptor is a character device with no rights.
  (func (export "fd_fdstat_get") (param $fd i32) (param $out i32) (result i32)
    (i64.store (local.get $out) (i64.const 2))
    (i64.store offset=8 (local.get $out) (i64.const 0))
    (i64.store offset=16 (local.get $out) (i64.const 0))
    (i32.const 0))
  (func (export "fd_fdstat_set_flags") (param i32 i32) (result i32) (i32.const 0))
  (func (export "fd_close") (param i32) (result i32) (i32.const 0))
  (func (export "sched_yield") (result i32) (i32.const 0))

  ;; No events ever happen.
  (func (export "poll_oneoff") (param $in i32) (param $out i32) (param $count i32) (param $events i32) (result i32)
    (i32.store (local.get $events) (i32.const 0))
    (i32.const 0))

  (func (export "proc_exit") (param i32) unreachable))
