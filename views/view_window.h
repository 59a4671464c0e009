// The window table functions of live views, TUMBLE and HOP (as RisingWave and Materialize write
// them), lowered: every row is given the windows of event time it falls in.
//
//   FROM TUMBLE(bid, date_time, INTERVAL '10' SECOND)                       one window per row
//   FROM HOP(bid, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)     slide, then size
//
// Windows are those of the config-driven window aggregate (operators/aggregate.h): they start at
// multiples of the slide (a tumbling window's slide is its size), and a row at time t is in every
// window [s, s + size) with s ≤ t < s + size — size / slide windows when the slide divides the
// size. ViewWindow appends `window_start` and `window_end` (timestamps) to the input's columns and
// emits a row once per window it is in, with the row's weight (a retraction leaves every window
// it was in). A row whose time is null is in no window (it is dropped). In a live view there is no
// watermark and nothing is closed: the view is the whole answer over the rows so far, and a
// window's aggregate is an ordinary GROUP BY on window_start.
//
// Stateless; the windows of a row depend on the row alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/operator.h"

namespace pinstream::views {

struct ViewWindowConfig {
  int time_column = 0;        // the input column holding the event time (a timestamp)
  std::int64_t size_us = 0;   // > 0
  std::int64_t slide_us = 0;  // > 0, ≤ size_us (= size_us: tumbling)
  std::string start_name = "window_start";
  std::string end_name = "window_end";
};

std::shared_ptr<const OperatorSpec> MakeViewWindow(ViewWindowConfig config);

// The starts of the windows holding time `t` (µs), latest first.
template <typename Fn>
void ForEachWindowStart(std::int64_t t, std::int64_t size_us, std::int64_t slide_us, Fn&& fn) {
  std::int64_t q = t / slide_us;
  if (t % slide_us != 0 && t < 0) --q;  // floor
  for (std::int64_t s = q * slide_us; s > t - size_us; s -= slide_us) fn(s);
}

}  // namespace pinstream::views
