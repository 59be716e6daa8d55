/* TrueType text rendering through stb_truetype (Debian's libstb-dev), for
 * synthetic text images (dnn.datasets.text_lines). stb_truetype is not safe
 * on hostile fonts: it trusts the offsets inside the font. dnn_font_load
 * checks the file's size, its table directory (every table inside the
 * file), the fields stb reads unchecked (head, maxp, hhea, hmtx for every
 * glyph, loca inside glyf and in order, kern pairs, the cmap's encoding
 * records and the subtable stb uses), maps code points past the glyphs to
 * .notdef, and turns stb's asserts into errors. Glyph outlines and GPOS are
 * still read unchecked: load fonts only from trusted paths (a system font
 * package), never from user uploads. */
#ifndef DNN_FONT_H
#define DNN_FONT_H

#include <stdint.h>

#include "dnn/error.h"
#include "dnn/tensor.h"

typedef struct dnn_font dnn_font;

/* The first font of a .ttf/.otf/.ttc file (at most 64 MiB), or NULL with a
 * message. */
dnn_font *dnn_font_load(const char *path);
void dnn_font_free(dnn_font *font); /* NULL is fine */

/* The advance width of UTF-8 text at a pixel height px (the distance from the
 * highest ascender to the lowest descender), and the font's ascent and
 * descent at that height (descent negative), in pixels. */
dnn_status dnn_font_measure(const dnn_font *font, const char *text, float px, float *width, float *ascent,
                            float *descent);

/* A new (h, w) image of UTF-8 text in coverage values 0..1 (antialiased),
 * its pen starting at x (pixels from the left) on the baseline y (pixels
 * from the top); what falls outside is clipped. Kerning applied. */
dnn_tensor *dnn_font_render(const dnn_font *font, const char *text, float px, float x, float y, int64_t h, int64_t w);

#endif
