/* Rasterizing lines, rectangles and text into an (H, W, 3) float canvas: what
 * dnn.plot draws its charts with. No font library: a 5x7 ASCII font is
 * below as bytes. */
#include <math.h>
#include <string.h>

#include "dnn/image.h"

/* The classic 5x7 font (as in many LCD drivers), printable ASCII 32..126:
 * 5 columns per glyph, left to right, bit 0 the top row. */
static const unsigned char font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, /*   */ {0x00, 0x00, 0x5F, 0x00, 0x00}, /* ! */
    {0x00, 0x07, 0x00, 0x07, 0x00}, /* " */ {0x14, 0x7F, 0x14, 0x7F, 0x14}, /* # */
    {0x24, 0x2A, 0x7F, 0x2A, 0x12}, /* $ */ {0x23, 0x13, 0x08, 0x64, 0x62}, /* % */
    {0x36, 0x49, 0x55, 0x22, 0x50}, /* & */ {0x00, 0x05, 0x03, 0x00, 0x00}, /* ' */
    {0x00, 0x1C, 0x22, 0x41, 0x00}, /* ( */ {0x00, 0x41, 0x22, 0x1C, 0x00}, /* ) */
    {0x08, 0x2A, 0x1C, 0x2A, 0x08}, /* * */ {0x08, 0x08, 0x3E, 0x08, 0x08}, /* + */
    {0x00, 0x50, 0x30, 0x00, 0x00}, /* , */ {0x08, 0x08, 0x08, 0x08, 0x08}, /* - */
    {0x00, 0x60, 0x60, 0x00, 0x00}, /* . */ {0x20, 0x10, 0x08, 0x04, 0x02}, /* / */
    {0x3E, 0x51, 0x49, 0x45, 0x3E}, /* 0 */ {0x00, 0x42, 0x7F, 0x40, 0x00}, /* 1 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, /* 2 */ {0x21, 0x41, 0x45, 0x4B, 0x31}, /* 3 */
    {0x18, 0x14, 0x12, 0x7F, 0x10}, /* 4 */ {0x27, 0x45, 0x45, 0x45, 0x39}, /* 5 */
    {0x3C, 0x4A, 0x49, 0x49, 0x30}, /* 6 */ {0x01, 0x71, 0x09, 0x05, 0x03}, /* 7 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, /* 8 */ {0x06, 0x49, 0x49, 0x29, 0x1E}, /* 9 */
    {0x00, 0x36, 0x36, 0x00, 0x00}, /* : */ {0x00, 0x56, 0x36, 0x00, 0x00}, /* ; */
    {0x08, 0x14, 0x22, 0x41, 0x00}, /* < */ {0x14, 0x14, 0x14, 0x14, 0x14}, /* = */
    {0x00, 0x41, 0x22, 0x14, 0x08}, /* > */ {0x02, 0x01, 0x51, 0x09, 0x06}, /* ? */
    {0x32, 0x49, 0x79, 0x41, 0x3E}, /* @ */ {0x7E, 0x11, 0x11, 0x11, 0x7E}, /* A */
    {0x7F, 0x49, 0x49, 0x49, 0x36}, /* B */ {0x3E, 0x41, 0x41, 0x41, 0x22}, /* C */
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, /* D */ {0x7F, 0x49, 0x49, 0x49, 0x41}, /* E */
    {0x7F, 0x09, 0x09, 0x09, 0x01}, /* F */ {0x3E, 0x41, 0x49, 0x49, 0x7A}, /* G */
    {0x7F, 0x08, 0x08, 0x08, 0x7F}, /* H */ {0x00, 0x41, 0x7F, 0x41, 0x00}, /* I */
    {0x20, 0x40, 0x41, 0x3F, 0x01}, /* J */ {0x7F, 0x08, 0x14, 0x22, 0x41}, /* K */
    {0x7F, 0x40, 0x40, 0x40, 0x40}, /* L */ {0x7F, 0x02, 0x0C, 0x02, 0x7F}, /* M */
    {0x7F, 0x04, 0x08, 0x10, 0x7F}, /* N */ {0x3E, 0x41, 0x41, 0x41, 0x3E}, /* O */
    {0x7F, 0x09, 0x09, 0x09, 0x06}, /* P */ {0x3E, 0x41, 0x51, 0x21, 0x5E}, /* Q */
    {0x7F, 0x09, 0x19, 0x29, 0x46}, /* R */ {0x46, 0x49, 0x49, 0x49, 0x31}, /* S */
    {0x01, 0x01, 0x7F, 0x01, 0x01}, /* T */ {0x3F, 0x40, 0x40, 0x40, 0x3F}, /* U */
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, /* V */ {0x3F, 0x40, 0x38, 0x40, 0x3F}, /* W */
    {0x63, 0x14, 0x08, 0x14, 0x63}, /* X */ {0x07, 0x08, 0x70, 0x08, 0x07}, /* Y */
    {0x61, 0x51, 0x49, 0x45, 0x43}, /* Z */ {0x00, 0x7F, 0x41, 0x41, 0x00}, /* [ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, /* \ */ {0x00, 0x41, 0x41, 0x7F, 0x00}, /* ] */
    {0x04, 0x02, 0x01, 0x02, 0x04}, /* ^ */ {0x40, 0x40, 0x40, 0x40, 0x40}, /* _ */
    {0x00, 0x01, 0x02, 0x04, 0x00}, /* ` */ {0x20, 0x54, 0x54, 0x54, 0x78}, /* a */
    {0x7F, 0x48, 0x44, 0x44, 0x38}, /* b */ {0x38, 0x44, 0x44, 0x44, 0x20}, /* c */
    {0x38, 0x44, 0x44, 0x48, 0x7F}, /* d */ {0x38, 0x54, 0x54, 0x54, 0x18}, /* e */
    {0x08, 0x7E, 0x09, 0x01, 0x02}, /* f */ {0x0C, 0x52, 0x52, 0x52, 0x3E}, /* g */
    {0x7F, 0x08, 0x04, 0x04, 0x78}, /* h */ {0x00, 0x44, 0x7D, 0x40, 0x00}, /* i */
    {0x20, 0x40, 0x44, 0x3D, 0x00}, /* j */ {0x7F, 0x10, 0x28, 0x44, 0x00}, /* k */
    {0x00, 0x41, 0x7F, 0x40, 0x00}, /* l */ {0x7C, 0x04, 0x18, 0x04, 0x78}, /* m */
    {0x7C, 0x08, 0x04, 0x04, 0x78}, /* n */ {0x38, 0x44, 0x44, 0x44, 0x38}, /* o */
    {0x7C, 0x14, 0x14, 0x14, 0x08}, /* p */ {0x08, 0x14, 0x14, 0x18, 0x7C}, /* q */
    {0x7C, 0x08, 0x04, 0x04, 0x08}, /* r */ {0x48, 0x54, 0x54, 0x54, 0x20}, /* s */
    {0x04, 0x3F, 0x44, 0x40, 0x20}, /* t */ {0x3C, 0x40, 0x40, 0x20, 0x7C}, /* u */
    {0x1C, 0x20, 0x40, 0x20, 0x1C}, /* v */ {0x3C, 0x40, 0x30, 0x40, 0x3C}, /* w */
    {0x44, 0x28, 0x10, 0x28, 0x44}, /* x */ {0x0C, 0x50, 0x50, 0x50, 0x3C}, /* y */
    {0x44, 0x64, 0x54, 0x4C, 0x44}, /* z */ {0x00, 0x08, 0x36, 0x41, 0x00}, /* { */
    {0x00, 0x00, 0x7F, 0x00, 0x00}, /* | */ {0x00, 0x41, 0x36, 0x08, 0x00}, /* } */
    {0x08, 0x04, 0x08, 0x10, 0x08}, /* ~ */
};

/* A canvas is a contiguous (H, W, 3) tensor: drawing writes into it. */
static dnn_status check_canvas(const dnn_tensor *t, const char *fn) {
  if (!t || t->ndim != 3 || t->shape[2] != 3 || !dnn_is_contiguous(t))
    return dnn_argerror(1, fn, "expected a contiguous (H, W, 3) canvas");
  return DNN_OK;
}

static inline void put(dnn_tensor *t, int64_t x, int64_t y, const float rgb[3]) {
  if (x < 0 || y < 0 || x >= t->shape[1] || y >= t->shape[0]) return;
  float *p = dnn_data(t) + (y * t->shape[1] + x) * 3;
  p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
}

/* Fills the pixels whose centers lie in [x0, x1) x [y0, y1), clipped. */
static void fill_box(dnn_tensor *t, double x0, double y0, double x1, double y1, const float rgb[3]) {
  double W = (double)t->shape[1], H = (double)t->shape[0];
  int64_t a = (int64_t)fmax(0, ceil(x0 - 0.5)), b = (int64_t)fmin(W, ceil(x1 - 0.5));
  int64_t c = (int64_t)fmax(0, ceil(y0 - 0.5)), d = (int64_t)fmin(H, ceil(y1 - 0.5));
  for (int64_t y = c; y < d; y++)
    for (int64_t x = a; x < b; x++) put(t, x, y, rgb);
}

dnn_status dnn_draw_rect(dnn_tensor *canvas, double x, double y, double w, double h, const float rgb[3], bool filled) {
  if (check_canvas(canvas, "dnn.image.draw_rect") != DNN_OK) return DNN_EARG;
  if (!(isfinite(x) && isfinite(y) && isfinite(w) && isfinite(h)))
    return dnn_argerror(2, "dnn.image.draw_rect", "expected finite coordinates");
  if (filled) {
    fill_box(canvas, x, y, x + w, y + h, rgb);
  } else {
    fill_box(canvas, x, y, x + w, y + 1, rgb);
    fill_box(canvas, x, y + h - 1, x + w, y + h, rgb);
    fill_box(canvas, x, y, x + 1, y + h, rgb);
    fill_box(canvas, x + w - 1, y, x + w, y + h, rgb);
  }
  return DNN_OK;
}

dnn_status dnn_draw_line(dnn_tensor *canvas, double x0, double y0, double x1, double y1, const float rgb[3],
                         double width, int dash) {
  if (check_canvas(canvas, "dnn.image.draw_line") != DNN_OK) return DNN_EARG;
  if (!(isfinite(x0) && isfinite(y0) && isfinite(x1) && isfinite(y1)))
    return dnn_argerror(2, "dnn.image.draw_line", "expected finite coordinates");
  if (!(width > 0 && width <= 100)) return dnn_argerror(6, "dnn.image.draw_line", "expected a width in (0, 100]");
  /* A square brush stamped at every unit step along the line: simple, and a
   * line of width 1 is the usual one-pixel DDA line. The line is first
   * clipped (Liang-Barsky) to the canvas and a margin of the brush. */
  double m = width + 2, bx0 = -m, by0 = -m, bx1 = (double)canvas->shape[1] + m, by1 = (double)canvas->shape[0] + m;
  double t0 = 0, t1 = 1, ddx = x1 - x0, ddy = y1 - y0;
  double p[4] = {-ddx, ddx, -ddy, ddy}, q[4] = {x0 - bx0, bx1 - x0, y0 - by0, by1 - y0};
  for (int i = 0; i < 4; i++) {
    if (p[i] == 0) {
      if (q[i] < 0) return DNN_OK; /* parallel to this edge and outside */
      continue;
    }
    double r = q[i] / p[i];
    if (p[i] < 0)
      t0 = fmax(t0, r);
    else
      t1 = fmin(t1, r);
  }
  if (t0 > t1) return DNN_OK;
  /* Dashes keep their phase from the original start point. */
  double phase = t0 * fmax(fabs(ddx), fabs(ddy));
  x1 = x0 + t1 * ddx, y1 = y0 + t1 * ddy, x0 = x0 + t0 * ddx, y0 = y0 + t0 * ddy;
  double dx = x1 - x0, dy = y1 - y0, len = fmax(fabs(dx), fabs(dy));
  int64_t steps = (int64_t)ceil(len);
  double half = width / 2;
  for (int64_t i = 0; i <= steps; i++) {
    if (dash > 0 && ((i + (int64_t)phase) / dash) % 2 == 1) continue;
    double t = steps ? (double)i / (double)steps : 0;
    double cx = x0 + dx * t, cy = y0 + dy * t;
    fill_box(canvas, cx - half + 0.5, cy - half + 0.5, cx + half + 0.5, cy + half + 0.5, rgb);
  }
  return DNN_OK;
}

int dnn_text_width(const char *text, int scale) {
  int n = text ? (int)strlen(text) : 0;
  return n ? (6 * n - 1) * (scale > 0 ? scale : 1) : 0;
}

dnn_status dnn_draw_text(dnn_tensor *canvas, double x, double y, const char *text, const float rgb[3], int scale,
                         bool vertical) {
  if (check_canvas(canvas, "dnn.image.draw_text") != DNN_OK) return DNN_EARG;
  if (!text) return dnn_argerror(4, "dnn.image.draw_text", "expected a string");
  if (scale < 1 || scale > 64)
    return dnn_argerror(6, "dnn.image.draw_text", "expected a scale in 1..64, got %d", scale);
  if (!(isfinite(x) && isfinite(y))) return dnn_argerror(2, "dnn.image.draw_text", "expected finite coordinates");
  int64_t ox = (int64_t)floor(x), oy = (int64_t)floor(y);
  int n = (int)strlen(text);
  for (int i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)text[i];
    const unsigned char *glyph = font5x7[(ch >= 32 && ch <= 126 ? ch : '?') - 32];
    for (int col = 0; col < 5; col++)
      for (int row = 0; row < 7; row++) {
        if (!(glyph[col] >> row & 1)) continue;
        /* Glyph pixel (gx, gy) of the text line; vertical turns the line a
         * quarter counter-clockwise: it reads bottom to top from (x, y). */
        int64_t gx = (int64_t)(i * 6 + col) * scale, gy = (int64_t)row * scale;
        for (int sy = 0; sy < scale; sy++)
          for (int sx = 0; sx < scale; sx++) {
            if (vertical)
              put(canvas, ox + gy + sy, oy - gx - sx, rgb);
            else
              put(canvas, ox + gx + sx, oy + gy + sy, rgb);
          }
      }
  }
  return DNN_OK;
}
