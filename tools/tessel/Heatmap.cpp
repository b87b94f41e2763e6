//===- Heatmap.cpp - attention maps as PNG, SVG or CSV --------------------===//
//
// Every format is rendered into memory first and then written with one
// writeFile, so a path that cannot be written fails the same way (with the
// OS's reason) for all three, and no half-drawn file is left behind.
//
//===----------------------------------------------------------------------===//
#include "tools/tessel/Heatmap.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <cairo-svg.h>
#include <cairo.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tessel::cli {
namespace {

// DejaVu Sans covers '␣', '…' and most scripts token pieces come in; cairo's
// toy font API resolves the name through fontconfig.
constexpr const char *kFontFamily = "DejaVu Sans";

// Cells shrink from kMaxCell to kMinCell as sequences grow so a typical
// prompt fits on a screen; below kMinCell the labels stop being legible, so
// longer sequences are refused (CSV has no limit).
constexpr int kMaxCell = 24;
constexpr int kMinCell = 8;
constexpr int kTargetGridPx = 640;
constexpr int64_t kMaxDrawnTokens = 1024;

constexpr int kMargin = 14;
constexpr int kLabelGap = 5; // between a cell edge and its label
constexpr int kTitleGap = 12;
constexpr int kAxisGap = 8; // between labels and the axis title
constexpr int kBarGap = 22; // between the grid and the colour bar
constexpr int kBarWidth = 14;
constexpr int kMinBarHeight = 120; // a bar beside a 3-token grid must still read
constexpr int kTickLength = 4;
constexpr double kTitleFontSize = 14;
constexpr double kAxisFontSize = 11;
constexpr size_t kMaxLabelUnits = 16;

// A viridis-like ramp: dark violet through blue and teal to yellow, rising in
// lightness so the order of values survives greyscale printing and the common
// colour-vision deficiencies. Linear interpolation between these points.
struct ControlPoint {
  double at;
  Rgb color;
};
constexpr std::array<ControlPoint, 9> kRamp = {{
    {0.000, {68, 1, 84}},
    {0.125, {71, 45, 123}},
    {0.250, {59, 82, 139}},
    {0.375, {44, 114, 142}},
    {0.500, {33, 144, 140}},
    {0.625, {39, 173, 129}},
    {0.750, {93, 200, 99}},
    {0.875, {170, 220, 50}},
    {1.000, {253, 231, 37}},
}};
constexpr Rgb kNanColor = {128, 128, 128};

enum class Format { Png, Svg, Csv };

absl::StatusOr<Format> formatOf(const std::string &path) {
  std::string ext = absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (ext == ".png")
    return Format::Png;
  if (ext == ".svg")
    return Format::Svg;
  if (ext == ".csv")
    return Format::Csv;
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": unknown heatmap format '", ext,
                   "'; name the file .png, .svg or .csv (the extension picks the format)"));
}

absl::Status validate(const Heatmap &map) {
  if (map.rows <= 0 || map.cols <= 0)
    return absl::InvalidArgumentError(absl::StrCat("heatmap has ", map.rows, " rows and ", map.cols,
                                                   " columns; it needs at least one token each"));
  if (map.values.size() / static_cast<uint64_t>(map.cols) != static_cast<uint64_t>(map.rows) ||
      map.values.size() % static_cast<uint64_t>(map.cols) != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("heatmap has ", map.values.size(), " values for ", map.rows, " x ", map.cols,
                     " cells; give one probability per (query, key) pair, row-major"));
  if (map.rowLabels.size() != static_cast<uint64_t>(map.rows) ||
      map.colLabels.size() != static_cast<uint64_t>(map.cols))
    return absl::InvalidArgumentError(absl::StrCat(
        "heatmap has ", map.rowLabels.size(), " row labels and ", map.colLabels.size(),
        " column labels for ", map.rows, " x ", map.cols, " cells; give one label per token"));
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// Labels
//===----------------------------------------------------------------------===//

/// Returns the code point at s[i] and advances i past it, or -1 (advancing one
/// byte) where the bytes are not well-formed UTF-8. cairo rejects malformed
/// text and byte-fallback tokens are often partial characters, so this must
/// be strict.
int32_t nextCodePoint(std::string_view s, size_t &i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t len;
  int32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    ++i;
    return -1;
  }
  if (i + len > s.size()) {
    ++i;
    return -1;
  }
  for (size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return -1;
  }
  i += len;
  return cp;
}

/// Splits `text` into what is drawn for each character, so truncation never
/// cuts an escape or a multi-byte character in half.
std::vector<std::string> displayUnits(std::string_view text, bool visibleSpaces) {
  std::vector<std::string> units;
  for (size_t i = 0; i < text.size();) {
    size_t start = i;
    int32_t cp = nextCodePoint(text, i);
    if (cp < 0)
      units.push_back(absl::StrFormat("\\x%02X", static_cast<unsigned char>(text[start])));
    else if (cp == ' ' && visibleSpaces)
      units.push_back("\u2423"); // ␣
    else if (cp == '\n')
      units.push_back("\\n");
    else if (cp == '\t')
      units.push_back("\\t");
    else if (cp == '\r')
      units.push_back("\\r");
    else if (cp < 0x20 || cp == 0x7F)
      units.push_back(absl::StrFormat("\\x%02X", cp));
    else if (cp >= 0x80 && cp < 0xA0) // C1 controls draw as nothing
      units.push_back(absl::StrFormat("\\u%04X", cp));
    else
      units.emplace_back(text.substr(start, i - start));
  }
  return units;
}

/// `text` made safe for cairo, spaces kept (for the title).
std::string drawableText(std::string_view text) {
  return absl::StrJoin(displayUnits(text, /*visibleSpaces=*/false), "");
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

using CairoPtr = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;
using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

/// Unhinted metrics, so text measures the same on the image and SVG surfaces
/// and the layout does not depend on the output format.
void setFont(cairo_t *cr, double size, bool bold = false) {
  cairo_font_options_t *options = cairo_font_options_create();
  cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
  cairo_set_font_options(cr, options);
  cairo_font_options_destroy(options);
  cairo_select_font_face(cr, kFontFamily, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double textWidth(cairo_t *cr, const std::string &text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

/// Ascent and descent of the current font: every label of one kind is
/// centred with the same offset, so baselines line up along a row.
struct VMetrics {
  double ascent, descent;
  double height() const { return ascent + descent; }
  // Baseline that centres the font's glyph box on `centre`.
  double baselineFor(double centre) const { return centre + (ascent - descent) / 2; }
};

VMetrics metrics(cairo_t *cr) {
  cairo_font_extents_t extents;
  cairo_font_extents(cr, &extents);
  return {extents.ascent, extents.descent};
}

/// The layout plus what drawing needs beyond it.
struct Geometry {
  HeatmapLayout layout;
  double labelFontSize = 0;
  std::vector<std::string> rowLabels, colLabels;
  std::string title;
  double titleWidth = 0;
  int titleBaseline = 0;
  int colLabelsBottom = 0; // where the key-axis title starts
  // Axis titles are centred on the grid but may be longer than a short grid
  // is wide or tall; then they start at its edge and the image grows to fit.
  double queryAxisTop = 0, keyAxisLeft = 0;
};

constexpr const char *kQueryAxis = "query token";
constexpr const char *kKeyAxis = "key token";
constexpr const char *kBarTitle = "attention probability";
constexpr std::array<double, 3> kTicks = {0.0, 0.5, 1.0};

std::string tickLabel(double v) { return absl::StrFormat("%g", v); }

absl::StatusOr<Geometry> computeGeometry(const Heatmap &map) {
  if (absl::Status s = validate(map); !s.ok())
    return s;
  int64_t longest = std::max(map.rows, map.cols);
  if (longest > kMaxDrawnTokens)
    return absl::InvalidArgumentError(absl::StrCat(
        "heatmap of ", map.rows, " x ", map.cols, " tokens is too large to draw (at most ",
        kMaxDrawnTokens, " a side); write a .csv instead, or use a shorter prompt"));

  Geometry g;
  HeatmapLayout &l = g.layout;
  l.cell = static_cast<int>(std::clamp<int64_t>(kTargetGridPx / longest, kMinCell, kMaxCell));
  g.labelFontSize = std::clamp(l.cell * 0.55, 7.0, 12.0);
  for (int64_t i = 0; i < map.rows; ++i)
    g.rowLabels.push_back(heatmapLabel(i, map.rowLabels[i]));
  for (int64_t j = 0; j < map.cols; ++j)
    g.colLabels.push_back(heatmapLabel(j, map.colLabels[j]));
  g.title = drawableText(map.title);

  // Text is measured on a scratch surface with the fonts the drawing uses.
  SurfacePtr scratch(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1), cairo_surface_destroy);
  CairoPtr cr(cairo_create(scratch.get()), cairo_destroy);

  setFont(cr.get(), g.labelFontSize);
  double rowLabelWidth = 0, colLabelWidth = 0;
  for (const std::string &label : g.rowLabels)
    rowLabelWidth = std::max(rowLabelWidth, textWidth(cr.get(), label));
  for (const std::string &label : g.colLabels)
    colLabelWidth = std::max(colLabelWidth, textWidth(cr.get(), label));

  setFont(cr.get(), kAxisFontSize);
  VMetrics axis = metrics(cr.get());
  double tickWidth = 0;
  for (double v : kTicks)
    tickWidth = std::max(tickWidth, textWidth(cr.get(), tickLabel(v)));
  double barTitleWidth = textWidth(cr.get(), kBarTitle);
  double queryAxisWidth = textWidth(cr.get(), kQueryAxis);
  double keyAxisWidth = textWidth(cr.get(), kKeyAxis);

  setFont(cr.get(), kTitleFontSize, /*bold=*/true);
  VMetrics title = metrics(cr.get());
  g.titleWidth = g.title.empty() ? 0 : textWidth(cr.get(), g.title);

  int top = kMargin;
  if (!g.title.empty()) {
    g.titleBaseline = static_cast<int>(std::ceil(top + title.ascent));
    top = static_cast<int>(std::ceil(top + title.height())) + kTitleGap;
  }
  int gridWidth = static_cast<int>(map.cols) * l.cell;
  int gridHeight = static_cast<int>(map.rows) * l.cell;
  l.gridLeft =
      static_cast<int>(std::ceil(kMargin + axis.height() + kAxisGap + rowLabelWidth)) + kLabelGap;
  l.gridTop = top;
  g.queryAxisTop = l.gridTop + std::max(0.0, (gridHeight - queryAxisWidth) / 2);
  g.keyAxisLeft = l.gridLeft + std::max(0.0, (gridWidth - keyAxisWidth) / 2);
  int keyAxisRight = static_cast<int>(std::ceil(g.keyAxisLeft + keyAxisWidth));

  // The bar stands right of the grid and of the key-axis title below it.
  l.barLeft = std::max(l.gridLeft + gridWidth, keyAxisRight) + kBarGap;
  l.barTop = l.gridTop;
  l.barWidth = kBarWidth;
  // The bar's title runs along it, so the bar is at least as tall as its title.
  l.barHeight = std::max({gridHeight, kMinBarHeight, static_cast<int>(std::ceil(barTitleWidth))});

  g.colLabelsBottom =
      static_cast<int>(std::ceil(l.gridTop + gridHeight + kLabelGap + colLabelWidth));
  int keyAxisBottom = static_cast<int>(std::ceil(g.colLabelsBottom + kAxisGap + axis.height()));
  int barBottom = static_cast<int>(std::ceil(l.barTop + l.barHeight + axis.height() / 2));
  int queryAxisBottom = static_cast<int>(std::ceil(g.queryAxisTop + queryAxisWidth));
  l.height = std::max({keyAxisBottom, barBottom, queryAxisBottom}) + kMargin;

  int barRight = static_cast<int>(
      std::ceil(l.barLeft + l.barWidth + kTickLength + 3 + tickWidth + kAxisGap + axis.height()));
  int titleRight = static_cast<int>(std::ceil(l.gridLeft + g.titleWidth));
  l.width = std::max(barRight, titleRight) + kMargin;
  return g;
}

//===----------------------------------------------------------------------===//
// Drawing
//===----------------------------------------------------------------------===//

void setSource(cairo_t *cr, Rgb c) {
  cairo_set_source_rgb(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0);
}

constexpr Rgb kTextColor = {34, 34, 34};
constexpr Rgb kAxisColor = {85, 85, 85};
constexpr Rgb kFrameColor = {120, 120, 120};

/// Draws `text` rotated to read bottom-to-top, its glyphs centred on x = `x`
/// and its end (the top) at y = `top`.
void showVertical(cairo_t *cr, const std::string &text, double x, double top) {
  VMetrics m = metrics(cr);
  cairo_save(cr);
  // Rotated by -90 degrees the ascent points left, so the baseline sits right
  // of the centre line.
  cairo_translate(cr, m.baselineFor(x), top + textWidth(cr, text));
  cairo_rotate(cr, -M_PI / 2);
  cairo_move_to(cr, 0, 0);
  cairo_show_text(cr, text.c_str());
  cairo_restore(cr);
}

void draw(cairo_t *cr, const Heatmap &map, const Geometry &g) {
  const HeatmapLayout &l = g.layout;
  int gridWidth = static_cast<int>(map.cols) * l.cell;
  int gridHeight = static_cast<int>(map.rows) * l.cell;

  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  // Cells sit on whole pixels, so each fills its pixels with exactly its colour.
  for (int64_t i = 0; i < map.rows; ++i) {
    for (int64_t j = 0; j < map.cols; ++j) {
      setSource(cr, heatmapColor(map.values[i * map.cols + j]));
      cairo_rectangle(cr, l.gridLeft + j * l.cell, l.gridTop + i * l.cell, l.cell, l.cell);
      cairo_fill(cr);
    }
  }
  cairo_set_line_width(cr, 1);
  setSource(cr, kFrameColor);
  cairo_rectangle(cr, l.gridLeft - 0.5, l.gridTop - 0.5, gridWidth + 1, gridHeight + 1);
  cairo_stroke(cr);

  // Token labels: rows right-aligned at the left, columns along the bottom.
  setFont(cr, g.labelFontSize);
  setSource(cr, kTextColor);
  VMetrics label = metrics(cr);
  for (int64_t i = 0; i < map.rows; ++i) {
    const std::string &text = g.rowLabels[i];
    cairo_move_to(cr, l.gridLeft - kLabelGap - textWidth(cr, text),
                  label.baselineFor(l.gridTop + (i + 0.5) * l.cell));
    cairo_show_text(cr, text.c_str());
  }
  // Column labels read top to bottom from the grid, so the position index
  // sits next to its column. Rotated by +90 degrees the ascent points right,
  // so the baseline sits left of the column's centre.
  double colLabelsTop = l.gridTop + gridHeight + kLabelGap;
  for (int64_t j = 0; j < map.cols; ++j) {
    const std::string &text = g.colLabels[j];
    double centre = l.gridLeft + (j + 0.5) * l.cell;
    cairo_save(cr);
    cairo_translate(cr, centre - (label.ascent - label.descent) / 2, colLabelsTop);
    cairo_rotate(cr, M_PI / 2);
    cairo_move_to(cr, 0, 0);
    cairo_show_text(cr, text.c_str());
    cairo_restore(cr);
  }

  // Axis titles.
  setFont(cr, kAxisFontSize);
  setSource(cr, kAxisColor);
  VMetrics axis = metrics(cr);
  showVertical(cr, kQueryAxis, kMargin + axis.height() / 2, g.queryAxisTop);
  cairo_move_to(cr, g.keyAxisLeft, g.colLabelsBottom + kAxisGap + axis.ascent);
  cairo_show_text(cr, kKeyAxis);

  // Colour bar: a gradient through the ramp's own control points is the
  // ramp exactly, since both interpolate linearly between them.
  cairo_pattern_t *ramp = cairo_pattern_create_linear(0, l.barTop + l.barHeight, 0, l.barTop);
  for (const ControlPoint &p : kRamp)
    cairo_pattern_add_color_stop_rgb(ramp, p.at, p.color.r / 255.0, p.color.g / 255.0,
                                     p.color.b / 255.0);
  cairo_set_source(cr, ramp);
  cairo_rectangle(cr, l.barLeft, l.barTop, l.barWidth, l.barHeight);
  cairo_fill(cr);
  cairo_pattern_destroy(ramp);
  setSource(cr, kFrameColor);
  cairo_rectangle(cr, l.barLeft - 0.5, l.barTop - 0.5, l.barWidth + 1, l.barHeight + 1);
  cairo_stroke(cr);

  double barRight = l.barLeft + l.barWidth;
  double tickWidth = 0;
  for (double v : kTicks) {
    double y = std::round(l.barTop + (1 - v) * l.barHeight) - 0.5;
    setSource(cr, kFrameColor);
    cairo_move_to(cr, barRight, y);
    cairo_line_to(cr, barRight + kTickLength, y);
    cairo_stroke(cr);
    std::string text = tickLabel(v);
    tickWidth = std::max(tickWidth, textWidth(cr, text));
    setSource(cr, kTextColor);
    cairo_move_to(cr, barRight + kTickLength + 3, axis.baselineFor(y));
    cairo_show_text(cr, text.c_str());
  }
  setSource(cr, kAxisColor);
  showVertical(cr, kBarTitle, barRight + kTickLength + 3 + tickWidth + kAxisGap + axis.height() / 2,
               l.barTop + (l.barHeight - textWidth(cr, kBarTitle)) / 2);

  if (!g.title.empty()) {
    // Centred over the grid where it fits, else starting at the grid's left.
    double x = std::max<double>(l.gridLeft, l.gridLeft + (gridWidth - g.titleWidth) / 2);
    setFont(cr, kTitleFontSize, /*bold=*/true);
    setSource(cr, kTextColor);
    cairo_move_to(cr, x, g.titleBaseline);
    cairo_show_text(cr, g.title.c_str());
  }
}

cairo_status_t appendToString(void *closure, const unsigned char *data, unsigned int length) {
  static_cast<std::string *>(closure)->append(reinterpret_cast<const char *>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

absl::Status cairoError(const std::string &path, cairo_status_t status) {
  return absl::InternalError(
      absl::StrCat(path, ": drawing the heatmap failed: ", cairo_status_to_string(status)));
}

absl::StatusOr<std::string> renderPng(const std::string &path, const Heatmap &map,
                                      const Geometry &g) {
  SurfacePtr surface(
      cairo_image_surface_create(CAIRO_FORMAT_ARGB32, g.layout.width, g.layout.height),
      cairo_surface_destroy);
  CairoPtr cr(cairo_create(surface.get()), cairo_destroy);
  draw(cr.get(), map, g);
  if (cairo_status_t s = cairo_status(cr.get()); s != CAIRO_STATUS_SUCCESS)
    return cairoError(path, s);
  cairo_surface_flush(surface.get());
  std::string bytes;
  if (cairo_status_t s = cairo_surface_write_to_png_stream(surface.get(), appendToString, &bytes);
      s != CAIRO_STATUS_SUCCESS)
    return cairoError(path, s);
  return bytes;
}

std::string xmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

absl::StatusOr<std::string> renderSvg(const std::string &path, const Heatmap &map,
                                      const Geometry &g) {
  std::string bytes;
  SurfacePtr surface(
      cairo_svg_surface_create_for_stream(appendToString, &bytes, g.layout.width, g.layout.height),
      cairo_surface_destroy);
  cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PX);
  {
    CairoPtr cr(cairo_create(surface.get()), cairo_destroy);
    draw(cr.get(), map, g);
    if (cairo_status_t s = cairo_status(cr.get()); s != CAIRO_STATUS_SUCCESS)
      return cairoError(path, s);
  }
  cairo_surface_finish(surface.get());
  if (cairo_status_t s = cairo_surface_status(surface.get()); s != CAIRO_STATUS_SUCCESS)
    return cairoError(path, s);
  // cairo numbers surfaces with a process-wide counter; a fixed id keeps the
  // file the same whatever else the process drew.
  size_t id = bytes.find("<g id=\"surface");
  if (id != std::string::npos) {
    size_t digits = id + std::strlen("<g id=\"surface");
    size_t quote = bytes.find('"', digits);
    std::string from = bytes.substr(digits - 7, quote + 1 - (digits - 7)); // surfaceN"
    const std::string to = "surface1\"";
    for (size_t at = bytes.find(from); at != std::string::npos;
         at = bytes.find(from, at + to.size()))
      bytes.replace(at, from.size(), to);
  }
  // cairo draws text as glyph outlines; a <title> keeps the map's title as
  // text, for viewers' tab names, screen readers and grep.
  if (!g.title.empty()) {
    size_t svg = bytes.find("<svg");
    size_t end = svg == std::string::npos ? svg : bytes.find('>', svg);
    if (end != std::string::npos)
      bytes.insert(end + 1, "\n<title>" + xmlEscape(g.title) + "</title>");
  }
  return bytes;
}

/// One CSV field, quoted per RFC 4180 when it holds a separator, quote or line break.
std::string csvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos)
    return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string renderCsv(const Heatmap &map) {
  std::string out = "query\\key";
  for (const std::string &label : map.colLabels)
    absl::StrAppend(&out, ",", csvField(label));
  out += '\n';
  for (int64_t i = 0; i < map.rows; ++i) {
    out += csvField(map.rowLabels[i]);
    // %.9g round-trips every float.
    for (int64_t j = 0; j < map.cols; ++j)
      absl::StrAppendFormat(&out, ",%.9g", map.values[i * map.cols + j]);
    out += '\n';
  }
  return out;
}

absl::Status writeFile(const std::string &path, const std::string &bytes) {
  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot write the heatmap to ", path,
                                                   " (check the directory exists and is "
                                                   "writable)"));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  int writeErrno = errno;
  if (std::fclose(file) != 0 && ok) {
    ok = false;
    writeErrno = errno;
  }
  if (!ok) {
    std::remove(path.c_str());
    return absl::ErrnoToStatus(
        writeErrno, absl::StrCat("writing the heatmap to ", path, " failed (is the disk full?)"));
  }
  return absl::OkStatus();
}

} // namespace

Rgb heatmapColor(float p) {
  if (std::isnan(p))
    return kNanColor;
  double v = std::clamp(static_cast<double>(p), 0.0, 1.0);
  size_t k = 1;
  while (k + 1 < kRamp.size() && v > kRamp[k].at)
    ++k;
  const ControlPoint &lo = kRamp[k - 1], &hi = kRamp[k];
  double t = (v - lo.at) / (hi.at - lo.at);
  auto mix = [t](uint8_t a, uint8_t b) {
    return static_cast<uint8_t>(std::lround(a + (b - a) * t));
  };
  return {mix(lo.color.r, hi.color.r), mix(lo.color.g, hi.color.g), mix(lo.color.b, hi.color.b)};
}

std::string heatmapLabel(int64_t index, std::string_view token) {
  std::vector<std::string> units = displayUnits(token, /*visibleSpaces=*/true);
  if (units.size() > kMaxLabelUnits) {
    units.resize(kMaxLabelUnits - 1);
    units.push_back("\u2026"); // …
  }
  return absl::StrCat(index, " ", absl::StrJoin(units, ""));
}

absl::StatusOr<HeatmapLayout> layoutHeatmap(const Heatmap &map) {
  absl::StatusOr<Geometry> g = computeGeometry(map);
  if (!g.ok())
    return g.status();
  return g->layout;
}

absl::Status writeHeatmap(const std::string &path, const Heatmap &map) {
  absl::StatusOr<Format> format = formatOf(path);
  if (!format.ok())
    return format.status();
  if (*format == Format::Csv) {
    if (absl::Status s = validate(map); !s.ok())
      return s;
    return writeFile(path, renderCsv(map));
  }
  absl::StatusOr<Geometry> g = computeGeometry(map);
  if (!g.ok())
    return g.status();
  absl::StatusOr<std::string> bytes =
      *format == Format::Png ? renderPng(path, map, *g) : renderSvg(path, map, *g);
  if (!bytes.ok())
    return bytes.status();
  return writeFile(path, *bytes);
}

} // namespace tessel::cli
