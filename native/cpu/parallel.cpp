// parallel.cpp: the task pool of parallel.h.
//
// One job slot. The caller that holds the pool publishes (fn, ctx, tasks), opens generation g by storing
// it in `gen_`, wakes sleeping workers, and claims tasks from `next_` like any worker. When it finds no
// task left it closes the generation (gen_ = g + 1) and waits until `inside_` is 0. A worker enters a job
// by incrementing `inside_` and then re-reading `gen_`: if the generation it saw is closed, it leaves
// without touching the job. Both sides use sequentially consistent operations, so either the caller sees
// the worker inside (and waits for it to finish its claimed task) or the worker sees the job closed: the
// caller never returns while a worker can still call fn, and never waits for a worker that is not running.
//
// Workers spin for about 50 us after a job (consecutive kernels of a step come microseconds apart) and
// then sleep on a futex. Open generations are odd, closed ones even.
#include "parallel.h"

#include <linux/futex.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <mutex>
#include <thread>
#include <vector>

namespace anvil {
namespace {

thread_local bool in_task = false;

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

class Pool {
 public:
  void run(int64_t tasks, int threads, void (*fn)(void*, int64_t, int), void* ctx) {
    std::unique_lock<std::mutex> hold(busy_, std::try_to_lock);
    if (!hold.owns_lock() || threads <= 1 || tasks <= 1) {
      serial(tasks, fn, ctx);
      return;
    }
    ensure_workers(threads - 1);
    fn_ = fn;
    ctx_ = ctx;
    tasks_ = tasks;
    limit_ = threads - 1;  // workers with slot <= limit_ take part
    next_.store(0);
    const uint32_t g = gen_.load() + 1;  // odd: open
    gen_.store(g);
    if (sleepers_.load() > 0) syscall(SYS_futex, &gen_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    in_task = true;
    for (int64_t t; (t = next_.fetch_add(1)) < tasks;) fn(ctx, t, 0);
    in_task = false;
    gen_.store(g + 1);  // closed
    for (int spins = 0; inside_.load() != 0; ++spins) {
      if (spins < 4096) cpu_relax();
      else std::this_thread::yield();
    }
  }

 private:
  static void serial(int64_t tasks, void (*fn)(void*, int64_t, int), void* ctx) {
    const bool outer = in_task;
    in_task = true;
    for (int64_t t = 0; t < tasks; ++t) fn(ctx, t, 0);
    in_task = outer;
  }

  void ensure_workers(int count) {
    while (static_cast<int>(workers_.size()) < count) {
      const int slot = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, slot] { work(slot); });
      workers_.back().detach();  // lives as long as the process; the pool is never destroyed
    }
  }

  void work(int slot) {
    in_task = true;  // kernels a worker runs never fan out again
    uint32_t seen = gen_.load();
    for (;;) {
      uint32_t g = wait_for_job(seen);
      seen = g;
      if (slot > limit_.load()) continue;
      inside_.fetch_add(1);
      if (gen_.load() == g) {
        for (int64_t t; (t = next_.fetch_add(1)) < tasks_;) fn_(ctx_, t, slot);
      }
      inside_.fetch_sub(1);
    }
  }

  // Returns the next open generation after `seen`: spins about 50 us, then sleeps on the futex.
  uint32_t wait_for_job(uint32_t seen) {
    const auto start = std::chrono::steady_clock::now();
    for (int spins = 0;; ++spins) {
      const uint32_t g = gen_.load();
      if (g != seen && (g & 1)) return g;
      if (spins < 256) {
        cpu_relax();
        continue;
      }
      if (std::chrono::steady_clock::now() - start < std::chrono::microseconds(50)) {
        spins = 0;
        continue;
      }
      sleepers_.fetch_add(1);
      // Sleep only while nothing new is open; the caller wakes sleepers after opening a job.
      const uint32_t now = gen_.load();
      if (!(now != seen && (now & 1))) syscall(SYS_futex, &gen_, FUTEX_WAIT_PRIVATE, now, nullptr, nullptr, 0);
      sleepers_.fetch_sub(1);
    }
  }

  std::mutex busy_;
  std::vector<std::thread> workers_;
  std::atomic<uint32_t> gen_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> inside_{0};
  std::atomic<int> limit_{0};
  std::atomic<int64_t> next_{0};
  void (*fn_)(void*, int64_t, int) = nullptr;
  void* ctx_ = nullptr;
  int64_t tasks_ = 0;
};

Pool& pool() {
  static Pool* const instance = new Pool();  // never destroyed: workers outlive static destructors
  return *instance;
}

}  // namespace

int max_threads() { return in_task ? 1 : omp_get_max_threads(); }

void run_tasks(int64_t tasks, int threads, void (*fn)(void*, int64_t, int), void* ctx) {
  if (tasks <= 0) return;
  pool().run(tasks, in_task ? 1 : threads, fn, ctx);
}

}  // namespace anvil
