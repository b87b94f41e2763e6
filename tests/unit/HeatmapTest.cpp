//===- HeatmapTest.cpp - tools/tessel/Heatmap.h ---------------------------===//
//
// Writes real PNG, SVG and CSV files and reads them back: PNGs are decoded
// with cairo and their cells' pixels checked against the colormap, CSVs are
// parsed and must give back the exact floats and labels.
//
//===----------------------------------------------------------------------===//
#include "tools/tessel/Heatmap.h"

#include <cairo.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/unit/ScratchDirTest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessel::cli {
namespace {

using ::testing::HasSubstr;

/// A causal 5x5 map as attention produces it: rows sum to 1, the future is 0,
/// and the first query attends only to itself (exactly 1.0).
Heatmap causalMap() {
  Heatmap map;
  map.rows = map.cols = 5;
  map.values = {
      1.0f, 0.0f,  0.0f, 0.0f, 0.0f, //
      0.6f, 0.4f,  0.0f, 0.0f, 0.0f, //
      0.2f, 0.3f,  0.5f, 0.0f, 0.0f, //
      0.1f, 0.2f,  0.3f, 0.4f, 0.0f, //
      0.5f, 0.05f, 0.1f, 0.1f, 0.25f,
  };
  map.rowLabels = map.colLabels = {"<s>", " Once", " upon", " a", " time"};
  map.title = "stories260K layer 2 head 3";
  return map;
}

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HeatmapTest : public ScratchDirTest {};

/// The pixel at (x, y) of a decoded image (ARGB32 or RGB24: both native-endian 0xAARRGGBB).
Rgb pixelAt(cairo_surface_t *image, int x, int y) {
  const unsigned char *data = cairo_image_surface_get_data(image);
  int stride = cairo_image_surface_get_stride(image);
  uint32_t px = *reinterpret_cast<const uint32_t *>(data + y * stride + 4 * x);
  return {static_cast<uint8_t>(px >> 16), static_cast<uint8_t>(px >> 8), static_cast<uint8_t>(px)};
}

void expectNear(Rgb actual, Rgb expected, const std::string &what) {
  EXPECT_LE(std::abs(actual.r - expected.r), 1) << what;
  EXPECT_LE(std::abs(actual.g - expected.g), 1) << what;
  EXPECT_LE(std::abs(actual.b - expected.b), 1) << what;
}

TEST_F(HeatmapTest, PngDecodesToTheLayoutAndTheColormap) {
  Heatmap map = causalMap();
  std::string png = path("map.png");
  ASSERT_TRUE(writeHeatmap(png, map).ok());

  std::string bytes = readAll(png);
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  absl::StatusOr<HeatmapLayout> layout = layoutHeatmap(map);
  ASSERT_TRUE(layout.ok()) << layout.status();
  cairo_surface_t *image = cairo_image_surface_create_from_png(png.c_str());
  ASSERT_EQ(cairo_surface_status(image), CAIRO_STATUS_SUCCESS);
  EXPECT_EQ(cairo_image_surface_get_width(image), layout->width);
  EXPECT_EQ(cairo_image_surface_get_height(image), layout->height);
  EXPECT_GE(layout->cell, 8);
  EXPECT_LE(layout->cell, 24);

  // Every cell's centre (and so the 1.0 and 0.0 cells) has the colormap's colour.
  for (int64_t i = 0; i < map.rows; ++i)
    for (int64_t j = 0; j < map.cols; ++j)
      expectNear(pixelAt(image, layout->cellCentreX(j), layout->cellCentreY(i)),
                 heatmapColor(map.values[i * map.cols + j]),
                 "cell (" + std::to_string(i) + ", " + std::to_string(j) + ")");
  expectNear(pixelAt(image, layout->cellCentreX(0), layout->cellCentreY(0)), heatmapColor(1.0f),
             "the 1.0 cell");
  expectNear(pixelAt(image, layout->cellCentreX(1), layout->cellCentreY(0)), heatmapColor(0.0f),
             "the 0.0 cell");
  // The colour bar is the colormap, 1 at the top to 0 at the bottom (pixman's
  // gradients round a little differently, hence 2).
  int barX = layout->barLeft + layout->barWidth / 2;
  for (int y = layout->barTop; y < layout->barTop + layout->barHeight; y += 7) {
    Rgb expected = heatmapColor(1.0f - (y + 0.5f - layout->barTop) / layout->barHeight);
    Rgb actual = pixelAt(image, barX, y);
    EXPECT_LE(std::abs(actual.r - expected.r), 2) << "colour bar at y=" << y;
    EXPECT_LE(std::abs(actual.g - expected.g), 2) << "colour bar at y=" << y;
    EXPECT_LE(std::abs(actual.b - expected.b), 2) << "colour bar at y=" << y;
  }
  cairo_surface_destroy(image);

  // Deterministic: the same map gives the same bytes.
  std::string again = path("again.png");
  ASSERT_TRUE(writeHeatmap(again, map).ok());
  EXPECT_EQ(readAll(again), bytes);
}

TEST_F(HeatmapTest, SvgHasHeaderAndTitle) {
  Heatmap map = causalMap();
  map.title = "stories260K layer 2 head 3 <mean & more>";
  std::string svg = path("map.svg");
  ASSERT_TRUE(writeHeatmap(svg, map).ok());
  std::string text = readAll(svg);
  EXPECT_EQ(text.rfind("<?xml", 0), 0u) << text.substr(0, 100);
  EXPECT_THAT(text, HasSubstr("<svg"));
  EXPECT_THAT(text, HasSubstr("<title>stories260K layer 2 head 3 &lt;mean &amp; more&gt;</title>"));

  std::string again = path("again.svg");
  ASSERT_TRUE(writeHeatmap(again, map).ok());
  EXPECT_EQ(readAll(again), text);
}

/// Parses RFC 4180 CSV (quoted fields may hold commas, quotes and newlines).
std::vector<std::vector<std::string>> parseCsv(const std::string &text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"')
        field += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field), field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (rows.back().empty())
    rows.pop_back();
  return rows;
}

TEST_F(HeatmapTest, CsvRoundTripsValuesAndLabels) {
  Heatmap map;
  map.rows = 2;
  map.cols = 3;
  map.values = {1.0f, 0.0f, 0.0f, 0.1f, 1.0f / 3.0f, 0.56666666f};
  map.rowLabels = {"a,b", "say \"hi\""};
  map.colLabels = {"<s>", " x", "line\nbreak"};
  std::string csv = path("map.csv");
  ASSERT_TRUE(writeHeatmap(csv, map).ok());

  std::vector<std::vector<std::string>> rows = parseCsv(readAll(csv));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"query\\key", "<s>", " x", "line\nbreak"}));
  for (int64_t i = 0; i < map.rows; ++i) {
    ASSERT_EQ(rows[i + 1].size(), 4u);
    EXPECT_EQ(rows[i + 1][0], map.rowLabels[i]);
    for (int64_t j = 0; j < map.cols; ++j)
      EXPECT_EQ(std::strtof(rows[i + 1][j + 1].c_str(), nullptr), map.values[i * map.cols + j])
          << rows[i + 1][j + 1];
  }
}

TEST_F(HeatmapTest, UnknownExtensionNamesTheSupportedOnes) {
  absl::Status s = writeHeatmap(path("map.bmp"), causalMap());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(".png"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(".svg"));
  EXPECT_THAT(std::string(s.message()), HasSubstr(".csv"));
}

TEST_F(HeatmapTest, MalformedMapsAreRefused) {
  for (const char *name : {"map.png", "map.svg", "map.csv"}) {
    Heatmap map = causalMap();
    map.values.pop_back();
    absl::Status s = writeHeatmap(path(name), map);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(s.message()), HasSubstr("24 values for 5 x 5")) << name;

    map = causalMap();
    map.colLabels.pop_back();
    EXPECT_EQ(writeHeatmap(path(name), map).code(), absl::StatusCode::kInvalidArgument) << name;

    EXPECT_EQ(writeHeatmap(path(name), Heatmap()).code(), absl::StatusCode::kInvalidArgument)
        << name;
  }
}

TEST_F(HeatmapTest, UnwritablePathIsNamed) {
  for (const char *file :
       {"/nonexistent/dir/x.png", "/nonexistent/dir/x.svg", "/nonexistent/dir/x.csv"}) {
    absl::Status s = writeHeatmap(file, causalMap());
    EXPECT_FALSE(s.ok()) << file;
    EXPECT_THAT(std::string(s.message()), HasSubstr(file));
  }
}

TEST_F(HeatmapTest, TooManyTokensToDrawSuggestsCsv) {
  Heatmap map;
  map.rows = 1;
  map.cols = 5000;
  map.values.assign(5000, 0.0002f);
  map.rowLabels = {"x"};
  map.colLabels.assign(5000, "y");
  absl::Status s = writeHeatmap(path("big.png"), map);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(".csv"));
  EXPECT_TRUE(writeHeatmap(path("big.csv"), map).ok());
}

TEST(HeatmapLabelTest, WhitespaceAndBadBytesShowAndLongTokensAreCut) {
  EXPECT_EQ(heatmapLabel(3, " cat"), "3 \u2423cat");
  EXPECT_EQ(heatmapLabel(0, "\n"), "0 \\n");
  EXPECT_EQ(heatmapLabel(1, "a\tb\r"), "1 a\\tb\\r");
  EXPECT_EQ(heatmapLabel(2, "\xff"), "2 \\xFF");
  EXPECT_EQ(heatmapLabel(4, "\xe4\xb8"), "4 \\xE4\\xB8");                 // a cut 3-byte character
  EXPECT_EQ(heatmapLabel(5, "\xc3\xa9t\xc3\xa9"), "5 \xc3\xa9t\xc3\xa9"); // "été" stays
  EXPECT_EQ(heatmapLabel(6, "abcdefghijklmnopqrstuvwxyz"), "6 abcdefghijklmno\u2026");
  EXPECT_EQ(heatmapLabel(7, "abcdefghijklmnop"), "7 abcdefghijklmnop"); // 16 fit
}

TEST(HeatmapColorTest, LightnessRisesWithProbability) {
  // A perceptual map must be ordered: luma rises strictly from 0 to 1, so a
  // larger probability always reads lighter.
  double previous = -1;
  for (int k = 0; k <= 100; ++k) {
    Rgb c = heatmapColor(k / 100.0f);
    double luma = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
    EXPECT_GT(luma, previous) << "at " << k / 100.0;
    previous = luma;
  }
  EXPECT_EQ(heatmapColor(-0.5f), heatmapColor(0.0f));
  EXPECT_EQ(heatmapColor(2.0f), heatmapColor(1.0f));
  EXPECT_EQ(heatmapColor(NAN), (Rgb{128, 128, 128}));
}

} // namespace
} // namespace tessel::cli
