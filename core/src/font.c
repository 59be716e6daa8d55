/* TrueType rendering (font.h) through stb_truetype, built here from Debian's
 * header as image_stb.c builds stb_image: every STBTT_assert jumps back to
 * the public call, which frees what stb had allocated (its allocations go
 * through a per-thread list) and reports a malformed font. Before stb sees
 * a file, its size and table directory are checked: every table must lie
 * inside the file. That does not make stb safe on hostile glyph data (it
 * follows offsets inside glyphs unchecked): fonts come from trusted paths. */
#include <setjmp.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/font.h"

#define FONT_MAX_BYTES (64L << 20)

/* ---- stb's allocations, tracked so that a jump out of it frees them ---- */

typedef struct block {
  struct block *prev, *next;
  alignas(max_align_t) unsigned char data[];
} block;

static _Thread_local block *live;
static _Thread_local jmp_buf *escape;

static void *font_malloc(size_t n) {
  block *b = malloc(sizeof(block) + n);
  if (!b) return NULL;
  b->prev = NULL, b->next = live;
  if (live) live->prev = b;
  live = b;
  return b->data;
}

static void font_free_block(void *p) {
  if (!p) return;
  block *b = (block *)((unsigned char *)p - offsetof(block, data));
  if (b->prev)
    b->prev->next = b->next;
  else
    live = b->next;
  if (b->next) b->next->prev = b->prev;
  free(b);
}

static void free_live(void) {
  while (live) font_free_block(live->data);
}

static _Noreturn void font_fail(void) { longjmp(*escape, 1); }

#define STBTT_malloc(x, u) ((void)(u), font_malloc(x))
#define STBTT_free(x, u) ((void)(u), font_free_block(x))
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
  if (directory_ok(font->data, font->size, offset)) {
    if (setjmp(here) == 0) ok = stbtt_InitFont(&font->info, font->data, (int)offset) != 0;
    free_live();
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
    int prev = 0;
    while (*s) {
      int cp = next_codepoint(&s), adv, lsb;
      if (prev) x += scale * stbtt_GetCodepointKernAdvance(&font->info, prev, cp);
      stbtt_GetCodepointHMetrics(&font->info, cp, &adv, &lsb);
      x += scale * adv;
      prev = cp;
    }
    *width = (float)x;
    *ascent = scale * asc;
    *descent = scale * desc;
  } else {
    st = dnn_error(DNN_EFORMAT, FN, "the font is damaged");
  }
  free_live();
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
    int prev = 0;
    size_t cap = 0;
    while (*s) {
      int cp = next_codepoint(&s), adv, lsb, x0, y0, x1, y1;
      if (prev) pen += scale * stbtt_GetCodepointKernAdvance(&font->info, prev, cp);
      stbtt_GetCodepointHMetrics(&font->info, cp, &adv, &lsb);
      float shift = (float)(pen - floor(pen));
      stbtt_GetCodepointBitmapBoxSubpixel(&font->info, cp, scale, scale, shift, 0, &x0, &y0, &x1, &y1);
      int gw = x1 - x0, gh = y1 - y0;
      if (gw > 0 && gh > 0 && gw <= 8192 && gh <= 8192) {
        size_t need = (size_t)gw * (size_t)gh;
        if (need > cap) {
          unsigned char *g = realloc(glyph, need);
          if (!g) font_fail();
          glyph = g, cap = need;
        }
        stbtt_MakeCodepointBitmapSubpixel(&font->info, glyph, gw, gh, gw, scale, scale, shift, 0, cp);
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
      prev = cp;
    }
  } else {
    ok = false;
  }
  free(glyph);
  free_live();
  escape = outer;
  if (!ok) {
    dnn_error(DNN_EFORMAT, FN, "the font is damaged, or out of memory");
    dnn_tensor_release(out);
    return NULL;
  }
  return out;
}
