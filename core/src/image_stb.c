/* BMP, GIF, TGA, PSD, HDR, PNM and PIC through stb_image, built here from
 * Debian's header (libstb-dev) rather than linked from libstb.so: that
 * library is built with assert() on, so a hostile file tripping one of
 * stb's internal checks would abort the process, and it cannot be seen by
 * the sanitizers. Here every STBI_ASSERT jumps back to the decode call,
 * which frees what stb had allocated (all its allocations go through a
 * per-thread list for that) and reports a corrupt file. JPEG and PNG are
 * not compiled in (libjpeg-turbo and libpng read them). PNM headers are
 * checked before stb parses them: its integer reader overflows. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_decode.h"
#include "tracked_alloc.h"

static const char *LOAD = "dnn.image.load";

/* ---- stb's allocations, tracked so that a jump out of it frees them ---- */

static _Thread_local jmp_buf *escape;

static void stb_check_failed(void) { longjmp(*escape, 1); }

#define STBI_ASSERT(x) ((x) ? (void)0 : stb_check_failed())
#define STBI_MALLOC(n) tracked_malloc(n)
#define STBI_REALLOC(p, n) tracked_realloc(p, n)
#define STBI_FREE(p) tracked_free(p)
#define STBI_NO_STDIO
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_ONLY_PSD
#define STBI_ONLY_HDR
#define STBI_ONLY_PNM
#define STBI_ONLY_PIC
#define STBI_MAX_DIMENSIONS 16384
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

/* ---- PNM: the header, checked before stb reads it ---- */

static bool pnm_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* stb's reading of a header number: spaces and # comments, then digits.
 * Returns the value (saturated at 1e9) or -1 without digits. */
static int64_t pnm_number(const unsigned char *d, size_t n, size_t *pos) {
  for (;;) {
    while (*pos < n && pnm_space(d[*pos])) (*pos)++;
    if (*pos >= n || d[*pos] != '#') break;
    while (*pos < n && d[*pos] != '\n' && d[*pos] != '\r') (*pos)++;
  }
  int64_t v = -1;
  for (; *pos < n && d[*pos] >= '0' && d[*pos] <= '9'; (*pos)++) {
    if (v < 0) v = 0;
    if (v < 100000000) v = v * 10 + (d[*pos] - '0');
  }
  return v;
}

/* Width, height and maxval in 1..65535 and the pixel bytes all present
 * (stb would read numbers past INT_MAX and hand back a short file's missing
 * pixels uninitialized). */
static dnn_status check_pnm(const char *name, const unsigned char *d, size_t n) {
  size_t pos = 2;
  int64_t w = pnm_number(d, n, &pos), h = pnm_number(d, n, &pos), maxval = pnm_number(d, n, &pos);
  if (w < 1 || h < 1 || maxval < 1 || w > 65535 || h > 65535 || maxval > 65535)
    return dnn_error(DNN_EFORMAT, LOAD,
                     "%s: corrupt PNM: expected width, height and maximum value in 1..65535, got %lld, %lld, %lld",
                     name, (long long)w, (long long)h, (long long)maxval);
  int64_t need = w * h * (d[1] == '6' ? 3 : 1) * (maxval > 255 ? 2 : 1);
  if (pos + 1 > n || (int64_t)(n - pos - 1) < need)
    return dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt PNM: declares %lldx%lld pixels, more than its %zu bytes can hold",
                     name, (long long)w, (long long)h, n);
  return DNN_OK;
}

/* ---- HDR: the run-length scanlines, walked before stb decodes them ---- */

/* stb's RLE loop never ends on a run of length 0, and the data running out
 * reads as zeros, that is as such runs: those files are refused here. The
 * walk follows stbi__hdr_load: header lines up to an empty one, the
 * resolution line, then per scanline 2, 2, the width in 2 bytes and per
 * component runs (count > 128: one value count - 128 times) and dumps. Other
 * layouts (flat pixels, old-style runs, a wrong width) stb reads with
 * bounded loops or refuses itself. */
static size_t line_end(const unsigned char *d, size_t n, size_t pos) {
  while (pos < n && d[pos] != '\n') pos++;
  return pos < n ? pos + 1 : n;
}

static bool hdr_runs_end(const unsigned char *d, size_t n, size_t pos, long w, long h) {
  for (long j = 0; j < h; j++) {
    if (pos > n || n - pos < 4 || d[pos] != 2 || d[pos + 1] != 2 || (d[pos + 2] & 0x80)) return true;
    if ((d[pos + 2] << 8 | d[pos + 3]) != w) return true;
    pos += 4;
    for (int k = 0; k < 4; k++) {
      for (long i = 0; i < w;) {
        if (pos >= n) return false;
        int count = d[pos++];
        if (count > 128) {
          count -= 128, pos++;
        } else if (count == 0) {
          return false;
        } else {
          pos += (size_t)count;
        }
        if (count > w - i) return true; /* stb refuses it */
        i += count;
      }
    }
  }
  return true;
}

static dnn_status check_hdr(const char *name, const unsigned char *d, size_t n) {
  /* stb reads a line into a C string: one starting with NUL is empty too. */
  size_t pos = line_end(d, n, 0);
  while (pos < n && d[pos] != '\n' && d[pos] != '\0') pos = line_end(d, n, pos);
  if (pos >= n) return DNN_OK; /* no resolution line: stb says so */
  size_t start = line_end(d, n, pos), end = line_end(d, n, start);
  char line[STBI__HDR_BUFLEN]; /* as much of the line as stb reads: its numbers may follow many blanks */
  size_t len = end - start < sizeof line - 1 ? end - start : sizeof line - 1;
  memcpy(line, d + start, len);
  line[len] = '\0';
  long h, w;
  if (sscanf(line, "-Y %ld +X %ld", &h, &w) != 2 || w < 8 || w >= 32768 || h < 1) return DNN_OK;
  if (!hdr_runs_end(d, n, end, w, h))
    return dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt HDR: a run-length scanline is empty or cut short", name);
  return DNN_OK;
}

/* ---- decoding ---- */

/* The most pixels a file of `size` bytes in `format` can decode to: raw
 * formats need their bytes, compressed ones have a bounded ratio: TGA, PSD
 * and HDR runs pack at most 128 pixels in 2 bytes, GIF's LZW 4095 pixels per
 * 12-bit code, PIC a 65535-pixel run in 4 bytes. */
static double max_pixels_for(const char *format, const unsigned char *data, size_t size) {
  if (strcmp(format, "BMP") == 0 && size >= 32) {
    int bpp = data[28] | data[29] << 8;
    if (bpp >= 1 && (data[30] | data[31] << 8) == 0) return (double)size * 8 / bpp; /* BI_RGB: uncompressed */
  }
  if (strcmp(format, "PNM") == 0) return (double)size;
  if (strcmp(format, "GIF") == 0) return (double)size * 4096;
  if (strcmp(format, "PIC") == 0) return (double)size * 65536;
  return (double)size * 1024;
}

bool dnn_stb_is_tga(const unsigned char *data, size_t size) {
  if (size > (size_t)INT32_MAX) return false;
  jmp_buf here;
  escape = &here;
  volatile bool yes = false;
  int w, h, c;
  if (setjmp(here) == 0) yes = stbi_info_from_memory(data, (int)size, &w, &h, &c) != 0;
  tracked_free_all();
  escape = NULL;
  return yes;
}

/* The decode proper, run under the escape set by dnn_decode_stb. */
static dnn_status decode(const char *name, const char *format, const unsigned char *data, int size, float scale,
                         dnn_decoded *out) {
  int w, h, c;
  if (!stbi_info_from_memory(data, size, &w, &h, &c))
    return dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt %s: %s", name, format, stbi_failure_reason());
  dnn_status st = dnn_image_check_pixels(name, format, w, h, max_pixels_for(format, data, (size_t)size), (size_t)size);
  if (st != DNN_OK) return st;
  void *raw;
  bool hdr = stbi_is_hdr_from_memory(data, size), wide = !hdr && stbi_is_16_bit_from_memory(data, size);
  /* PIC asks for RGBA (its own channels are taken from it below): with the
   * file's count, stb converts a failed decode's NULL pixels and crashes. */
  bool pic = strcmp(format, "PIC") == 0;
  if (hdr)
    raw = stbi_loadf_from_memory(data, size, &w, &h, &c, 0);
  else if (wide)
    raw = stbi_load_16_from_memory(data, size, &w, &h, &c, 0);
  else
    raw = stbi_load_from_memory(data, size, &w, &h, &c, pic ? 4 : 0);
  if (!raw) return dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt %s: %s", name, format, stbi_failure_reason());
  int stride = pic ? 4 : c;
  size_t n = (size_t)w * (size_t)h;
  float *pixels = malloc(sizeof(float) * n * (size_t)c);
  if (!pixels) return dnn_error(DNN_ENOMEM, LOAD, "%s: out of memory", name);
  for (size_t p = 0; p < n; p++) {
    for (int k = 0; k < c; k++) {
      size_t i = p * (size_t)stride + (size_t)k;
      float v = hdr ? ((const float *)raw)[i]
          : wide    ? ((const uint16_t *)raw)[i] * (scale / 65535.0f)
                    : ((const uint8_t *)raw)[i] * (scale / 255.0f);
      pixels[p * (size_t)c + (size_t)k] = v;
    }
  }
  *out = (dnn_decoded){pixels, h, w, c};
  return DNN_OK;
}

dnn_status dnn_decode_stb(const char *name, const char *format, const unsigned char *data, size_t size, float scale,
                          dnn_decoded *out) {
  if (size > (size_t)INT32_MAX)
    return dnn_error(DNN_EFORMAT, LOAD, "%s: %s file too large for stb_image", name, format);
  dnn_status checked = strcmp(format, "PNM") == 0 ? check_pnm(name, data, size)
      : strcmp(format, "HDR") == 0                ? check_hdr(name, data, size)
                                                  : DNN_OK;
  if (checked != DNN_OK) return checked;
  jmp_buf here;
  escape = &here;
  volatile dnn_status st;
  if (setjmp(here) == 0)
    st = decode(name, format, data, (int)size, scale, out);
  else
    st = dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt %s: fails stb_image's consistency checks", name, format);
  tracked_free_all(); /* the raw pixels on success; everything stb held on a failed check */
  escape = NULL;
  return st;
}
