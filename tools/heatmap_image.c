#include "heatmap_image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef VECATTN_HAVE_PNG
#include <png.h>
#endif

enum { TARGET_PIXELS = 256, MAX_CELL = 32 };

int heatmap_cell_size(int64_t rows, int64_t cols) {
  const int64_t big = rows > cols ? rows : cols;
  int64_t cell = big > 0 ? TARGET_PIXELS / big : 1;
  return cell < 1 ? 1 : cell > MAX_CELL ? MAX_CELL : (int)cell;
}

/* Dark purple -> blue -> teal -> green -> yellow: perceptually ordered, readable
 * in grey and by most colour-blind viewers; linear between five anchors. */
static void ramp(double t, unsigned char rgb[3]) {
  static const double anchors[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (!(t > 0)) t = 0; /* NaN too */
  if (t > 1) t = 1;
  const double x = t * 4;
  const int i = x >= 4 ? 3 : (int)x;
  const double f = x - i;
  for (int c = 0; c < 3; ++c) rgb[c] = (unsigned char)lround(anchors[i][c] + f * (anchors[i + 1][c] - anchors[i][c]));
}

#ifdef VECATTN_HAVE_PNG
const char *heatmap_extension(void) { return ".png"; }
enum { CHANNELS = 3 };

static int write_pixels(const char *path, const unsigned char *px, int width, int height) {
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
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) png_write_row(png, px + (size_t)y * width * CHANNELS);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return fclose(f) == 0 ? 0 : -1;
}
#else
const char *heatmap_extension(void) { return ".pgm"; }
enum { CHANNELS = 1 };

static int write_pixels(const char *path, const unsigned char *px, int width, int height) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  const size_t n = (size_t)width * height;
  int ok = fprintf(f, "P5\n%d %d\n255\n", width, height) > 0 && fwrite(px, 1, n, f) == n;
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : -1;
}
#endif

int heatmap_write(const char *path, const float *w, int64_t rows, int64_t cols, int64_t ld, float vmax, int cell) {
  if (rows * cell > 65535 || cols * cell > 65535) return -1; /* beyond what viewers take */
  const int width = (int)(cols * cell), height = (int)(rows * cell);
  unsigned char *px = malloc((size_t)width * height * CHANNELS);
  if (!px) return -1;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      unsigned char rgb[3];
      const double t = w[r * ld + c] / vmax;
      ramp(t, rgb);
      for (int y = 0; y < cell; ++y) {
        unsigned char *p = px + ((size_t)(r * cell + y) * width + (size_t)(c * cell)) * CHANNELS;
        for (int x = 0; x < cell; ++x, p += CHANNELS) {
          if (CHANNELS == 3)
            p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
          else
            p[0] = (unsigned char)lround((t > 0 ? (t < 1 ? t : 1) : 0) * 255);
        }
      }
    }
  const int rc = write_pixels(path, px, width, height);
  free(px);
  return rc;
}
