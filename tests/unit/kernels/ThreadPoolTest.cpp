//===- ThreadPoolTest.cpp - the kernels' persistent pool ------------------===//
#include <atomic>
#include <thread>
#include <vector>

#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/ThreadPool.h"
#include "gtest/gtest.h"

namespace tessel::kernels {
namespace {

TEST(ThreadPoolTest, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.numThreads(), threads);
    for (int64_t tasks : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(tasks);
      for (int round = 0; round < 3; ++round)
        pool.run(tasks, [&](int64_t t) { hits[t]++; });
      for (int64_t t = 0; t < tasks; ++t)
        ASSERT_EQ(hits[t].load(), 3) << threads << " " << t;
    }
  }
}

TEST(ThreadPoolTest, PinnedTasksKeepTheirThread) {
  ThreadPool pool(3);
  const int64_t tasks = 9;
  std::vector<std::thread::id> first(tasks), second(tasks);
  pool.runPinned(tasks, [&](int64_t t) { first[t] = std::this_thread::get_id(); });
  pool.runPinned(tasks, [&](int64_t t) { second[t] = std::this_thread::get_id(); });
  EXPECT_EQ(first, second);
  for (int64_t t = 0; t < tasks; ++t) {
    EXPECT_EQ(first[t], first[t % 3]) << t;
    if (t % 3 == 0)
      EXPECT_EQ(first[t], std::this_thread::get_id()) << "the caller is thread 0";
    else
      EXPECT_NE(first[t], std::this_thread::get_id()) << t;
  }
  EXPECT_NE(first[1], first[2]);
}

TEST(ThreadPoolTest, NestedAndConcurrentRunsFinish) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.run(4, [&](int64_t) { pool.run(3, [&](int64_t) { inner++; }); });
  EXPECT_EQ(inner.load(), 12);

  // Two callers at once: one gets the workers, the other runs serially.
  std::atomic<int> count{0};
  std::thread other([&] {
    for (int i = 0; i < 200; ++i)
      pool.run(5, [&](int64_t) { count++; });
  });
  for (int i = 0; i < 200; ++i)
    pool.run(5, [&](int64_t) { count++; });
  other.join();
  EXPECT_EQ(count.load(), 2000);
}

TEST(ThreadPoolTest, GlobalThreadCountIsConfigurable) {
  const int64_t before = tessel_get_num_threads();
  EXPECT_GE(before, 1);
  tessel_set_num_threads(3);
  EXPECT_EQ(tessel_get_num_threads(), 3);
  tessel_set_num_threads(before);
  EXPECT_EQ(tessel_get_num_threads(), before);
}

} // namespace
} // namespace tessel::kernels
