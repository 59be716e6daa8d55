/* TrueType rendering (font.h) through stb_truetype, built here from Debian's
 * header as image_stb.c builds stb_image: every STBTT_assert jumps back to
 * the public call, which frees what stb had allocated (its allocations go
 * through a per-thread list) and reports a malformed font. Before stb sees
 * a file, its size, table directory and the fields stbtt_InitFont reads are
 * checked; after it, the tables stb indexes without bounds (loca, hmtx,
 * kern, the chosen cmap subtable). A random-corruption run over loca, cmap,
 * kern, hmtx, hhea, head, maxp, GPOS and glyf under ASan/UBSan found nothing
 * past these checks, but stb still follows offsets inside glyph outlines and
 * GPOS unchecked: fonts come from trusted paths. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/font.h"
#include "tracked_alloc.h"

#define FONT_MAX_BYTES (64L << 20)

/* ---- stb's allocations, tracked so that a jump out of it frees them ---- */

static _Thread_local jmp_buf *escape;

static _Noreturn void font_fail(void) { longjmp(*escape, 1); }

#define STBTT_malloc(x, u) ((void)(u), tracked_malloc(x))
#define STBTT_free(x, u) ((void)(u), tracked_free(x))
#define STBTT_assert(x) ((x) ? (void)0 : font_fail())
#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb/stb_truetype.h>

struct dnn_font {
  unsigned char *data;
  size_t size;
  stbtt_fontinfo info;
};

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The table directory at offset: every table inside the file. */
static bool directory_ok(const unsigned char *d, size_t size, size_t offset) {
  if (offset > size || size - offset < 12) return false;
  size_t n = (size_t)d[offset + 4] << 8 | d[offset + 5];
  if (n == 0 || (size - offset - 12) / 16 < n) return false;
  for (size_t i = 0; i < n; i++) {
    const unsigned char *e = d + offset + 12 + 16 * i;
    uint64_t at = be32(e + 8), len = be32(e + 12);
    if (at > size || len > size - at) return false;
  }
  return true;
}

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }

/* The table tag of the directory at offset: its start and length (checked by directory_ok), or false. */
static bool find_table(const unsigned char *d, size_t offset, const char *tag, uint64_t *at, uint64_t *len) {
  size_t n = be16(d + offset + 4);
  for (size_t i = 0; i < n; i++) {
    const unsigned char *e = d + offset + 12 + 16 * i;
    if (memcmp(e, tag, 4) == 0) {
      *at = be32(e + 8), *len = be32(e + 12);
      return true;
    }
  }
  return false;
}

/* What stbtt_InitFont itself reads: head's and maxp's fields, and the cmap's encoding records, each pointing
 * inside the cmap table. */
static bool init_tables_ok(const unsigned char *d, size_t offset) {
  uint64_t at, len;
  if (find_table(d, offset, "head", &at, &len) && len < 54) return false;
  if (find_table(d, offset, "maxp", &at, &len) && len < 6) return false;
  if (!find_table(d, offset, "cmap", &at, &len)) return true; /* stb refuses the font */
  if (len < 4) return false;
  uint64_t n = be16(d + at + 2);
  if (4 + 8 * n > len) return false;
  for (uint64_t i = 0; i < n; i++)
    if ((uint64_t)be32(d + at + 4 + 8 * i + 4) + 4 > len) return false;
  return true;
}

/* The cmap subtable stb chose (at im): its arrays inside the cmap table, for the formats stb reads. */
static bool cmap_ok(const unsigned char *d, uint64_t im, uint64_t end) {
  if (im + 4 > end) return false;
  const uint64_t rem = end - im;
  switch (be16(d + im)) {
    case 0:
      return rem >= 6 + 256;
    case 4: {
      if (rem < 16) return false;
      uint64_t segx2 = be16(d + im + 6);
      if (16 + 4 * segx2 > rem || be16(d + im + 8) > segx2 || be16(d + im + 12) > segx2) return false;
      const uint64_t ends = im + 14, starts = ends + segx2 + 2, ranges = starts + 2 * segx2;
      for (uint64_t i = 0; i < segx2 / 2; i++) {
        uint64_t r = be16(d + ranges + 2 * i), first = be16(d + starts + 2 * i), last = be16(d + ends + 2 * i);
        if (r && (last < first || ranges + 2 * i + r + 2 * (last - first) + 2 > end)) return false;
      }
      return true;
    }
    case 6:
      return rem >= 10 && 10 + 2 * (uint64_t)be16(d + im + 8) <= rem;
    case 12:
    case 13: { /* groups (first, last, glyph) in Unicode's range (stb reads them as int shifts: the top bit is UB) */
      if (rem < 16 || 16 + 12 * (uint64_t)be32(d + im + 12) > rem) return false;
      for (uint64_t g = 0, n = be32(d + im + 12); g < n; g++) {
        const unsigned char *e = d + im + 16 + 12 * g;
        if (be32(e) > be32(e + 4) || be32(e + 4) > 0x10FFFF || be32(e + 8) > 0x7FFFFFFF) return false;
      }
      return true;
    }
    default:
      return true; /* formats stb does not read (it finds no glyph, or asserts: an error) */
  }
}

/* What stb reads without checking, checked once: the glyph offsets (loca) inside glyf and in order, the metrics
 * (hmtx) that hhea announces, the kerning pairs, and the chosen cmap subtable. Outlines and GPOS are not
 * checked: stb stays unsafe on hostile fonts. */
static bool tables_ok(const dnn_font *f, size_t offset) {
  const unsigned char *d = f->data;
  const stbtt_fontinfo *in = &f->info;
  uint64_t at, len, at2, len2;
  if (!find_table(d, offset, "head", &at, &len) || len < 54) return false;
  if (!find_table(d, offset, "hhea", &at, &len) || len < 36) return false;
  uint64_t n_long = be16(d + at + 34), glyphs = (uint64_t)in->numGlyphs;
  if (!find_table(d, offset, "hmtx", &at, &len) || n_long == 0 || 4 * n_long > len ||
      (glyphs > n_long && 4 * n_long + 2 * (glyphs - n_long) > len))
    return false;
  if (in->cff.size == 0) {
    if (!find_table(d, offset, "loca", &at, &len) || !find_table(d, offset, "glyf", &at2, &len2)) return false;
    const int size = in->indexToLocFormat == 0 ? 2 : 4;
    if (in->indexToLocFormat > 1 || (glyphs + 1) * (uint64_t)size > len) return false;
    uint64_t prev = 0;
    for (uint64_t g = 0; g <= glyphs; g++) {
      uint64_t v = size == 2 ? 2 * (uint64_t)be16(d + at + 2 * g) : be32(d + at + 4 * g);
      if (v < prev || v > len2) return false;
      if (g > 0 && v > prev && v - prev < 10) return false; /* a glyph's header is 10 bytes */
      prev = v;
    }
  }
  if (find_table(d, offset, "kern", &at, &len)) {
    if (len < 4) return false;
    if (be16(d + at + 2) >= 1 && (len < 18 || 18 + 6 * (uint64_t)be16(d + at + 10) > len)) return false;
  }
  if (!find_table(d, offset, "cmap", &at, &len)) return false;
  return (uint64_t)in->index_map >= at && cmap_ok(d, (uint64_t)in->index_map, at + len);
}

dnn_font *dnn_font_load(const char *path) {
  static const char *FN = "dnn_font_load";
  FILE *f = fopen(path, "rb");
  if (!f) {
    dnn_error(DNN_EIO, FN, "cannot open font '%s'", path);
    return NULL;
  }
  dnn_font *font = calloc(1, sizeof *font);
  long size = -1;
  if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (!font || size < 12 || size > FONT_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0) {
    if (font)
      dnn_error(DNN_EFORMAT, FN, "font '%s': expected a font file of 12 bytes to 64 MiB, got %ld bytes", path, size);
    else
      dnn_error(DNN_ENOMEM, FN, "out of memory");
    fclose(f);
    free(font);
    return NULL;
  }
  font->size = (size_t)size;
  font->data = malloc(font->size);
  bool read = font->data && fread(font->data, 1, font->size, f) == font->size;
  fclose(f);
  if (!read) {
    dnn_error(font->data ? DNN_EIO : DNN_ENOMEM, FN, "cannot read font '%s'", path);
    dnn_font_free(font);
    return NULL;
  }
  /* a collection ('ttcf') holds the offsets of its fonts: the first one's must be inside */
  size_t offset = 0;
  if (memcmp(font->data, "ttcf", 4) == 0) offset = font->size >= 16 ? be32(font->data + 12) : font->size;
  jmp_buf here;
  jmp_buf *outer = escape;
  escape = &here;
  bool ok = false;
  if (directory_ok(font->data, font->size, offset) && init_tables_ok(font->data, offset)) {
    if (setjmp(here) == 0) ok = stbtt_InitFont(&font->info, font->data, (int)offset) != 0 && tables_ok(font, offset);
    tracked_free_all();
  }
  escape = outer;
  if (!ok) {
    dnn_error(DNN_EFORMAT, FN, "'%s' is not a TrueType/OpenType font (or it is damaged)", path);
    dnn_font_free(font);
    return NULL;
  }
  return font;
}

void dnn_font_free(dnn_font *font) {
  if (!font) return;
  free(font->data);
  free(font);
}

/* The next code point of UTF-8 text (invalid bytes give U+FFFD); *s moves on. */
static int next_codepoint(const unsigned char **s) {
  const unsigned char *p = *s;
  int c = p[0], n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
  if (n < 0) {
    *s = p + 1;
    return 0xFFFD;
  }
  int cp = n == 0 ? c : c & (0x3F >> n);
  for (int i = 1; i <= n; i++) {
    if ((p[i] & 0xC0) != 0x80) {
      *s = p + i;
      return 0xFFFD;
    }
    cp = cp << 6 | (p[i] & 0x3F);
  }
  *s = p + n + 1;
  return cp;
}

/* The glyph of a code point, .notdef (0) for one the cmap maps past the font's glyphs (stb's metrics would read past
 * hmtx for it). */
static int glyph_of(const dnn_font *font, int cp) {
  int g = stbtt_FindGlyphIndex(&font->info, cp);
  return g > 0 && g < font->info.numGlyphs ? g : 0;
}

static dnn_status check_px(const char *fn, float px) {
  if (px > 0 && px <= 4096) return DNN_OK;
  return dnn_argerror(2, fn, "expected a pixel height in (0, 4096], got %g", (double)px);
}

dnn_status dnn_font_measure(const dnn_font *font, const char *text, float px, float *width, float *ascent,
                            float *descent) {
  static const char *FN = "dnn_font_measure";
  if (check_px(FN, px) != DNN_OK) return DNN_EARG;
  jmp_buf here;
  jmp_buf *outer = escape;
  escape = &here;
  dnn_status st = DNN_OK;
  if (setjmp(here) == 0) {
    float scale = stbtt_ScaleForPixelHeight(&font->info, px);
    int asc, desc, gap;
    stbtt_GetFontVMetrics(&font->info, &asc, &desc, &gap);
    double x = 0;
    const unsigned char *s = (const unsigned char *)text;
    int prev = -1;
    while (*s) {
      int g = glyph_of(font, next_codepoint(&s)), adv, lsb;
      if (prev >= 0) x += scale * stbtt_GetGlyphKernAdvance(&font->info, prev, g);
      stbtt_GetGlyphHMetrics(&font->info, g, &adv, &lsb);
      x += scale * adv;
      prev = g;
    }
    *width = (float)x;
    *ascent = scale * asc;
    *descent = scale * desc;
  } else {
    st = dnn_error(DNN_EFORMAT, FN, "the font is damaged");
  }
  tracked_free_all();
  escape = outer;
  return st;
}

dnn_tensor *dnn_font_render(const dnn_font *font, const char *text, float px, float x, float y, int64_t h, int64_t w) {
  static const char *FN = "dnn_font_render";
  if (check_px(FN, px) != DNN_OK) return NULL;
  if (h < 1 || w < 1 || h > 65536 || w > 65536) {
    dnn_argerror(6, FN, "expected an image size in 1..65536, got %lld x %lld", (long long)h, (long long)w);
    return NULL;
  }
  int64_t shape[2] = {h, w};
  dnn_tensor *out = dnn_zeros(2, shape);
  if (!out) return NULL;
  float *canvas = dnn_data(out);
  jmp_buf here;
  jmp_buf *outer = escape;
  escape = &here;
  unsigned char *volatile glyph = NULL;
  bool ok = true;
  if (setjmp(here) == 0) {
    float scale = stbtt_ScaleForPixelHeight(&font->info, px);
    double pen = x;
    const unsigned char *s = (const unsigned char *)text;
    int prev = -1;
    size_t cap = 0;
    while (*s) {
      int g = glyph_of(font, next_codepoint(&s)), adv, lsb, x0, y0, x1, y1;
      if (prev >= 0) pen += scale * stbtt_GetGlyphKernAdvance(&font->info, prev, g);
      stbtt_GetGlyphHMetrics(&font->info, g, &adv, &lsb);
      float shift = (float)(pen - floor(pen));
      stbtt_GetGlyphBitmapBoxSubpixel(&font->info, g, scale, scale, shift, 0, &x0, &y0, &x1, &y1);
      int gw = x1 - x0, gh = y1 - y0;
      if (gw > 0 && gh > 0 && gw <= 8192 && gh <= 8192) {
        size_t need = (size_t)gw * (size_t)gh;
        if (need > cap) {
          unsigned char *g = realloc(glyph, need);
          if (!g) font_fail();
          glyph = g, cap = need;
        }
        stbtt_MakeGlyphBitmapSubpixel(&font->info, glyph, gw, gh, gw, scale, scale, shift, 0, g);
        int64_t left = (int64_t)floor(pen) + x0, top = (int64_t)floor(y) + y0;
        for (int r = 0; r < gh; r++) {
          int64_t row = top + r;
          if (row < 0 || row >= h) continue;
          for (int c = 0; c < gw; c++) {
            int64_t col = left + c;
            if (col < 0 || col >= w) continue;
            float v = glyph[(size_t)r * gw + c] / 255.0f, *p = canvas + row * w + col;
            if (v > *p) *p = v;
          }
        }
      }
      pen += scale * adv;
      prev = g;
    }
  } else {
    ok = false;
  }
  free(glyph);
  tracked_free_all();
  escape = outer;
  if (!ok) {
    dnn_error(DNN_EFORMAT, FN, "the font is damaged, or out of memory");
    dnn_tensor_release(out);
    return NULL;
  }
  return out;
}
