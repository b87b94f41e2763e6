//===- Heatmap.h - attention maps as PNG, SVG or CSV ------------*- C++ -*-===//
//
// `tessel run --attention_map` writes the attention probabilities of one head
// (or the mean over heads) as a heatmap: rows are query tokens, columns key
// tokens. PNG and SVG share one cairo drawing routine; CSV keeps the exact
// numbers for scripts. The layout and colormap are exposed so tests can find
// a cell's pixel and check its colour.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TOOLS_TESSEL_HEATMAP_H
#define TESSEL_TOOLS_TESSEL_HEATMAP_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessel::cli {

struct Heatmap {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;          // rows*cols, row-major, probabilities in [0,1]
  std::vector<std::string> rowLabels; // rows entries (query tokens), raw token text
  std::vector<std::string> colLabels; // cols entries (key tokens), raw token text
  std::string title;                  // e.g. "stories260K layer 2 head 3"
};

/// Writes `map` to `path`; the format follows the extension: .png, .svg or .csv.
/// Errors (unknown extension, sizes that do not match, a file that cannot be written)
/// say what was wrong and what to do.
absl::Status writeHeatmap(const std::string &path, const Heatmap &map);

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb &o) const { return r == o.r && g == o.g && b == o.b; }
};

/// The colour of probability `p` on a fixed 0..1 scale (viridis-like: dark
/// violet -> teal -> yellow); values outside are clamped, NaN is grey.
Rgb heatmapColor(float p);

/// Where things land in the PNG (and SVG, in px), in whole pixels so cell
/// edges are crisp.
struct HeatmapLayout {
  int width = 0, height = 0;                                // the image
  int cell = 0;                                             // side of one square cell
  int gridLeft = 0, gridTop = 0;                            // top-left corner of cell (0, 0)
  int barLeft = 0, barTop = 0, barWidth = 0, barHeight = 0; // the colour bar

  int cellCentreX(int64_t col) const { return gridLeft + static_cast<int>(col) * cell + cell / 2; }
  int cellCentreY(int64_t row) const { return gridTop + static_cast<int>(row) * cell + cell / 2; }
};

/// Lays out `map` for drawing (text is measured with the font the image uses);
/// fails as writeHeatmap does when the map is malformed or too large to draw.
absl::StatusOr<HeatmapLayout> layoutHeatmap(const Heatmap &map);

/// The axis label for token `token` at position `index`: "3 ␣cat". Spaces show
/// as '␣', control characters as escapes ("\n"), bytes that are not UTF-8 as
/// "\xNN", and long tokens are cut with '…'.
std::string heatmapLabel(int64_t index, std::string_view token);

} // namespace tessel::cli

#endif // TESSEL_TOOLS_TESSEL_HEATMAP_H
