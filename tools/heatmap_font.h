/* A 5x7 pixel bitmap font for the labels of vecattn-heatmap's images:
 * digits, A-Z (lower case is drawn as upper case) and a little punctuation,
 * so the tool needs no font library. */
#ifndef VECATTN_HEATMAP_FONT_H
#define VECATTN_HEATMAP_FONT_H

enum { FONT_W = 5, FONT_H = 7, FONT_ADVANCE = 6 };

/* Pixel (col, row) of character c's glyph, col < FONT_W, row < FONT_H:
 * 1 when drawn. Unknown characters draw as '?'. */
int font_pixel(char c, int col, int row);

#endif
