// parallel.h: the CPU kernels' thread pool, in place of OpenMP parallel regions on the hot path.
//
// Why not `#pragma omp parallel`: every region ends in a barrier that waits for every thread of the
// team. On a machine whose cores other processes share, one descheduled worker stalls each region for a
// scheduler time slice: a 2-thread cpu-small step measured 2,443 ms against 110 ms on one thread (load
// average ~20 on 2 cores). Here the work of a call is cut into tasks that the caller and the workers
// claim from a shared counter; the caller runs whatever nobody has claimed and waits only for tasks a
// worker has actually started. A worker that is not running costs nothing but its share of the speed-up.
//
// Results never depend on which thread runs a task: callers cut the work into tasks by the requested
// thread count (as before), and each task computes the same values wherever it runs. `slot` (0 for the
// caller, 1.. for workers, < threads) only picks per-thread scratch.
//
// The team size is OpenMP's per-thread setting (anvil_cpu_set_threads -> omp_set_num_threads), so the
// Java-side thread control is unchanged. Calls from inside a task, or from a second JVM thread while the
// pool serves another, run their tasks on the calling thread (same results, no nesting, no deadlock).
#pragma once

#include <cstdint>

namespace anvil {

// Threads a kernel called now may use: the thread count setting, or 1 inside a task.
int max_threads();

// Runs fn(ctx, task, slot) for every task in [0, tasks) on up to `threads` threads; returns when all ran.
void run_tasks(int64_t tasks, int threads, void (*fn)(void* ctx, int64_t task, int slot), void* ctx);

// parallel_tasks(tasks, threads, [&](int64_t task, int slot) {...})
template <class F>
void parallel_tasks(int64_t tasks, int threads, F&& body) {
  run_tasks(tasks, threads,
            [](void* ctx, int64_t task, int slot) { (*static_cast<F*>(ctx))(task, slot); }, &body);
}

// Cuts [0, n) into one contiguous range per thread, using at most n / grain threads (grain: the fewest
// elements worth a thread), and runs body(begin, end) for each: parallel_range(n, 1 << 15, [&](b, e) {...}).
template <class F>
void parallel_range(int64_t n, int64_t grain, F&& body) {
  if (n <= 0) return;
  int64_t parts = max_threads();
  if (n / grain < parts) parts = n / grain > 0 ? n / grain : 1;
  if (parts <= 1) {
    body(int64_t{0}, n);
    return;
  }
  parallel_tasks(parts, static_cast<int>(parts), [&](int64_t part, int) {
    body(n * part / parts, n * (part + 1) / parts);
  });
}

}  // namespace anvil
