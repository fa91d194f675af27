// Timing and percentiles shared by the C++ contenders of the suite.
#pragma once

#include "contender.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

/// Milliseconds from `t0` until now.
inline double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
    .count();
}

/// Microseconds from `t0` until now.
inline double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0)
    .count();
}

/// The median of `xs` (the upper one for an even count); 0 for no samples.
inline double median(std::vector<double> xs) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

/// The nearest-rank percentile `p` (0..100) of `xs`; 0 for no samples.
inline double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100 * xs.size()));
  return xs[std::max<size_t>(rank, 1) - 1];
}

/// Median and p99 of round-trip samples in microseconds.
inline latency summarize(const std::vector<double>& samples_us) {
  return {percentile(samples_us, 50), percentile(samples_us, 99)};
}

} // namespace bench
