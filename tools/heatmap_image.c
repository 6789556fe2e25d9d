#include "heatmap_image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heatmap_font.h"

#ifdef VECATTN_HAVE_PNG
#include <png.h>
#endif

enum { TARGET_PIXELS = 256, MAX_CELL = 32, MAX_SIDE = 65535 };
enum { TEXT_SCALE = 2, PAD = 14, TICK = 5, BAR_W = 18, MIN_BAR_H = 160 };

int heatmap_cell_size(int64_t n) {
  int64_t cell = n > 0 ? TARGET_PIXELS / n : 1;
  return cell < 1 ? 1 : cell > MAX_CELL ? MAX_CELL : (int)cell;
}

int64_t heatmap_tick_step(int64_t n, int cell, int label_px) {
  const int64_t need = label_px + 2 * TEXT_SCALE * 3; /* a gap of three font pixels */
  for (int64_t mag = 1;; mag *= 10)
    for (int m = 0; m < 3; ++m) {
      const int64_t step = mag * (m == 0 ? 1 : m == 1 ? 2 : 5);
      if (step * cell >= need || step >= n) return step;
    }
}

#ifdef VECATTN_HAVE_PNG
const char *heatmap_extension(void) { return ".png"; }
static const int grey_only = 0;
#else
const char *heatmap_extension(void) { return ".pgm"; }
static const int grey_only = 1;
#endif

/* Dark purple -> blue -> teal -> green -> yellow: perceptually ordered, readable
 * in grey and by most colour-blind viewers; linear between five anchors. PGM:
 * grey levels proportional to t. */
static void ramp(double t, unsigned char rgb[3]) {
  static const double anchors[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (!(t > 0)) t = 0; /* NaN too */
  if (t > 1) t = 1;
  if (grey_only) {
    rgb[0] = rgb[1] = rgb[2] = (unsigned char)lround(t * 255);
    return;
  }
  const double x = t * 4;
  const int i = x >= 4 ? 3 : (int)x;
  const double f = x - i;
  for (int c = 0; c < 3; ++c) rgb[c] = (unsigned char)lround(anchors[i][c] + f * (anchors[i + 1][c] - anchors[i][c]));
}

/* An RGB picture; PGM keeps the first channel (every colour is grey then). */
typedef struct {
  int w, h;
  unsigned char *px;
} canvas;

static const unsigned char INK[3] = {34, 34, 34};

static void fill(canvas *cv, int x, int y, int w, int h, const unsigned char rgb[3]) {
  for (int j = y < 0 ? 0 : y; j < y + h && j < cv->h; ++j)
    for (int i = x < 0 ? 0 : x; i < x + w && i < cv->w; ++i) memcpy(cv->px + ((size_t)j * cv->w + i) * 3, rgb, 3);
}

static int text_width(const char *s) { return (int)strlen(s) * FONT_ADVANCE * TEXT_SCALE - TEXT_SCALE; }

/* Horizontal text with its top-left corner at (x, y). */
static void text(canvas *cv, int x, int y, const char *s) {
  for (int k = 0; s[k]; ++k)
    for (int r = 0; r < FONT_H; ++r)
      for (int c = 0; c < FONT_W; ++c)
        if (font_pixel(s[k], c, r))
          fill(cv, x + (k * FONT_ADVANCE + c) * TEXT_SCALE, y + r * TEXT_SCALE, TEXT_SCALE, TEXT_SCALE, INK);
}

/* Text turned a quarter left (read bottom to top), its glyph tops facing x. */
static void text_up(canvas *cv, int x, int y_bottom, const char *s) {
  for (int k = 0; s[k]; ++k)
    for (int r = 0; r < FONT_H; ++r)
      for (int c = 0; c < FONT_W; ++c)
        if (font_pixel(s[k], c, r))
          fill(cv, x + r * TEXT_SCALE, y_bottom - (k * FONT_ADVANCE + c + 1) * TEXT_SCALE, TEXT_SCALE, TEXT_SCALE,
               INK);
}

static int digits(int64_t v) {
  char buf[32];
  return snprintf(buf, sizeof buf, "%lld", (long long)v);
}

#ifdef VECATTN_HAVE_PNG
static int write_pixels(const char *path, const canvas *cv) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return -1;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)cv->w, (png_uint_32)cv->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < cv->h; ++y) png_write_row(png, cv->px + (size_t)y * cv->w * 3);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return fclose(f) == 0 ? 0 : -1;
}
#else
static int write_pixels(const char *path, const canvas *cv) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fprintf(f, "P5\n%d %d\n255\n", cv->w, cv->h) > 0;
  for (size_t i = 0; ok && i < (size_t)cv->w * cv->h; ++i) ok = fputc(cv->px[3 * i], f) != EOF;
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : -1;
}
#endif

int heatmap_write(const char *path, const float *w, int64_t rows, int64_t cols, int64_t ld, float vmax, int cell_w,
                  int cell_h, const heatmap_labels *labels) {
  if (rows < 1 || cols < 1 || rows * cell_h > 32768 || cols * cell_w > 32768 || !(vmax > 0)) return -1;
  const int map_w = (int)(cols * cell_w), map_h = (int)(rows * cell_h);
  const int line = FONT_H * TEXT_SCALE, gap = 3 * TEXT_SCALE;
  const char *x_name = "key index", *y_name = "query index", *bar_name = "weight";
  char vtick[3][32];
  snprintf(vtick[0], sizeof vtick[0], "0");
  snprintf(vtick[1], sizeof vtick[1], "%.3g", 0.5 * vmax);
  snprintf(vtick[2], sizeof vtick[2], "%.3g", (double)vmax);

  /* Layout, left to right: y name, y tick labels, map, colour bar and its labels. */
  const int ylab_w = digits(rows - 1) * FONT_ADVANCE * TEXT_SCALE;
  const int map_x = PAD + line + gap + ylab_w + gap + TICK + 1;
  int title_lines = (labels && labels->title ? 1 : 0) + (labels && labels->subtitle ? 1 : 0);
  /* Below the titles: the colour bar's name, clear of its top tick label. */
  const int bar_name_y = PAD + title_lines * (line + gap) + gap;
  const int map_y = bar_name_y + line + gap + line / 2;
  const int bar_h = map_h > MIN_BAR_H ? map_h : MIN_BAR_H;
  const int bar_x = map_x + map_w + 4 * gap;
  int vtick_w = 0;
  for (int i = 0; i < 3; ++i) vtick_w = text_width(vtick[i]) > vtick_w ? text_width(vtick[i]) : vtick_w;
  int width = bar_x + BAR_W + 1 + TICK + gap + (vtick_w > text_width(bar_name) ? vtick_w : text_width(bar_name)) + PAD;
  const int below = TICK + gap + line + gap + line; /* x tick labels, then the x name */
  const int height = map_y + (map_h > bar_h ? map_h : bar_h) + below + PAD;
  for (int i = 0; labels && i < 2; ++i) {
    const char *s = i ? labels->subtitle : labels->title;
    if (s && 2 * PAD + text_width(s) > width) width = 2 * PAD + text_width(s);
  }
  if (width > MAX_SIDE || height > MAX_SIDE) return -1;

  canvas cv = {width, height, malloc((size_t)width * height * 3)};
  if (!cv.px) return -1;
  memset(cv.px, 255, (size_t)width * height * 3);

  int y = PAD;
  if (labels && labels->title) text(&cv, PAD, y, labels->title), y += line + gap;
  if (labels && labels->subtitle) text(&cv, PAD, y, labels->subtitle);

  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      unsigned char rgb[3];
      ramp(w[r * ld + c] / vmax, rgb);
      fill(&cv, map_x + (int)(c * cell_w), map_y + (int)(r * cell_h), cell_w, cell_h, rgb);
    }
  /* Frame, one pixel outside the map. */
  fill(&cv, map_x - 1, map_y - 1, map_w + 2, 1, INK);
  fill(&cv, map_x - 1, map_y + map_h, map_w + 2, 1, INK);
  fill(&cv, map_x - 1, map_y - 1, 1, map_h + 2, INK);
  fill(&cv, map_x + map_w, map_y - 1, 1, map_h + 2, INK);

  /* Key axis below the map: ticks at cell centres. */
  const int64_t xstep = heatmap_tick_step(cols, cell_w, digits(cols - 1) * FONT_ADVANCE * TEXT_SCALE);
  for (int64_t c = 0; c < cols; c += xstep) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)c);
    const int cx = map_x + (int)(c * cell_w) + cell_w / 2;
    fill(&cv, cx, map_y + map_h + 1, 1, TICK, INK);
    text(&cv, cx - text_width(buf) / 2, map_y + map_h + 1 + TICK + gap / 2, buf);
  }
  text(&cv, map_x + map_w / 2 - text_width(x_name) / 2, map_y + map_h + TICK + gap + line + gap, x_name);

  /* Query axis left of the map, rows top to bottom. */
  const int64_t ystep = heatmap_tick_step(rows, cell_h, line);
  for (int64_t r = 0; r < rows; r += ystep) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)r);
    const int cy = map_y + (int)(r * cell_h) + cell_h / 2;
    fill(&cv, map_x - 1 - TICK, cy, TICK, 1, INK);
    text(&cv, map_x - 1 - TICK - gap - text_width(buf), cy - line / 2, buf);
  }
  text_up(&cv, PAD, map_y + map_h / 2 + text_width(y_name) / 2, y_name);

  /* Colour bar: vmax at the top, 0 at the bottom, ticks at 0, vmax/2, vmax. */
  for (int j = 0; j < bar_h; ++j) {
    unsigned char rgb[3];
    ramp(1.0 - (double)j / (bar_h - 1), rgb);
    fill(&cv, bar_x, map_y + j, BAR_W, 1, rgb);
  }
  fill(&cv, bar_x - 1, map_y - 1, BAR_W + 2, 1, INK);
  fill(&cv, bar_x - 1, map_y + bar_h, BAR_W + 2, 1, INK);
  fill(&cv, bar_x - 1, map_y - 1, 1, bar_h + 2, INK);
  fill(&cv, bar_x + BAR_W, map_y - 1, 1, bar_h + 2, INK);
  for (int i = 0; i < 3; ++i) {
    const int ty = map_y + (bar_h - 1) - (int)lround((bar_h - 1) * 0.5 * i);
    fill(&cv, bar_x + BAR_W + 1, ty, TICK, 1, INK);
    text(&cv, bar_x + BAR_W + 1 + TICK + gap, ty - line / 2, vtick[i]);
  }
  text(&cv, bar_x, bar_name_y, bar_name);

  const int rc = write_pixels(path, &cv);
  free(cv.px);
  return rc;
}
