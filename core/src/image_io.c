/* Image files: PNG through libpng (read and write), JPEG through
 * libjpeg-turbo (image_jpeg.c), the other formats stb_image reads (BMP, TGA,
 * GIF, PSD, HDR, PNM, PIC) through stb_image built in image_stb.c. The file
 * is read into memory once; its size bounds what the header may declare, so
 * a small file cannot make us allocate gigabytes. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dnn/image.h"
#include "image_decode.h"

static const char *LOAD = "dnn.image.load";
static const char *SAVE = "dnn.image.save";

/* Files above this are refused before reading (a 16384^2 RGBA 16-bit raw
 * image is 2 GiB). */
#define MAX_FILE_BYTES ((long)1 << 31)

/* ---- reading the file ---- */

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return dnn_error(DNN_EIO, LOAD, "%s: cannot open: %s", path, strerror(errno)), NULL;
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return dnn_error(DNN_EIO, LOAD, "%s: not a regular file (a directory?)", path), NULL;
  }
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return dnn_error(DNN_EIO, LOAD, "%s: cannot read: %s", path, strerror(errno)), NULL;
  }
  if (n > MAX_FILE_BYTES) {
    fclose(f);
    return dnn_error(DNN_EFORMAT, LOAD, "%s: file of %ld bytes is larger than the %ld an image may have", path, n,
                     MAX_FILE_BYTES),
           NULL;
  }
  unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf) {
    fclose(f);
    return dnn_error(DNN_ENOMEM, LOAD, "%s: out of memory for %ld bytes", path, n), NULL;
  }
  size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
  int err = ferror(f);
  fclose(f);
  if (err || got != (size_t)n) {
    free(buf);
    return dnn_error(DNN_EIO, LOAD, "%s: read error", path), NULL;
  }
  *size = (size_t)n;
  return buf;
}

/* ---- channel conversion ---- */

/* Pixels of the file (src_c channels, floats already scaled) into an
 * (h, w, want) tensor: gray is PIL's luma, a missing alpha is `one`. */
static dnn_tensor *to_tensor(const float *src, int64_t h, int64_t w, int src_c, int want, float one) {
  int c = want ? want : src_c;
  int64_t shape[3] = {h, w, c};
  dnn_tensor *t = dnn_empty(3, shape);
  if (!t) return NULL;
  float *o = dnn_data(t);
  int64_t np = h * w;
  bool src_alpha = src_c == 2 || src_c == 4, src_color = src_c >= 3;
  for (int64_t i = 0; i < np; i++) {
    const float *p = src + i * src_c;
    float *q = o + i * c;
    if (c == src_c) {
      memcpy(q, p, sizeof(float) * (size_t)c);
      continue;
    }
    float r = p[0], g = src_color ? p[1] : p[0], b = src_color ? p[2] : p[0];
    float a = src_alpha ? p[src_c - 1] : one;
    if (c == 1 || c == 2) {
      q[0] = src_color ? 0.299f * r + 0.587f * g + 0.114f * b : r;
      if (c == 2) q[1] = a;
    } else {
      q[0] = r, q[1] = g, q[2] = b;
      if (c == 4) q[3] = a;
    }
  }
  return t;
}

dnn_status dnn_image_check_pixels(const char *name, const char *format, int64_t w, int64_t h, double max_pixels,
                                  size_t size) {
  if (w < 1 || h < 1)
    return dnn_error(DNN_EFORMAT, LOAD, "%s: %s declares an empty %lldx%lld image", name, format, (long long)w,
                     (long long)h);
  if (w > DNN_IMAGE_MAX_PIXELS / h)
    return dnn_error(DNN_EFORMAT, LOAD, "%s: %s declares %lldx%lld pixels, more than the %lld an image may have", name,
                     format, (long long)w, (long long)h, (long long)DNN_IMAGE_MAX_PIXELS);
  if ((double)w * (double)h > max_pixels)
    return dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt %s: declares %lldx%lld pixels, more than its %zu bytes can hold",
                     name, format, (long long)w, (long long)h, size);
  return DNN_OK;
}

/* ---- PNG through libpng ---- */

typedef struct png_source {
  const unsigned char *data;
  size_t size, pos;
  char message[200];
} png_source;

static void png_read_mem(png_structp png, png_bytep out, size_t n) {
  png_source *s = png_get_io_ptr(png);
  if (n > s->size - s->pos) png_error(png, "the file ends early (truncated)");
  memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

/* libpng's error handler: keep the message, jump back to the setjmp in
 * load_png (all inside C: no Lua frame lies between). */
static void png_on_error(png_structp png, png_const_charp msg) {
  png_source *s = png_get_error_ptr(png);
  snprintf(s->message, sizeof s->message, "%s", msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* deflate expands at most about 1032:1; with the filter byte per row, the
 * raw image cannot be larger than this many times the file. */
#define PNG_MAX_RATIO 1100

static dnn_tensor *load_png(const char *path, const unsigned char *data, size_t size, int channels, float scale) {
  png_source src = {data, size, 0, ""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return dnn_error(DNN_ENOMEM, LOAD, "%s: out of memory", path), NULL;
  }
  /* Everything the jump may skip is volatile or set before setjmp. */
  float *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  png_bytep volatile raw = NULL;
  dnn_tensor *volatile out = NULL;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels), free(rows), free(raw);
    dnn_tensor_release(out);
    return dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt PNG: %s", path, src.message), NULL;
  }
  png_set_read_fn(png, &src, png_read_mem);
  /* 16384 columns and rows is within our pixel cap; libpng's own default
   * limit is 1000000 each side. */
  png_set_user_limits(png, 1 << 20, 1 << 20);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (dnn_image_check_pixels(path, "the PNG header", w, h, (double)DNN_IMAGE_MAX_PIXELS, size) != DNN_OK) {
    png_destroy_read_struct(&png, &info, NULL);
    return NULL;
  }
  /* Palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha; 16-bit kept (scaled below). */
  png_set_expand(png);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (png_get_bit_depth(png, info) == 16) png_set_swap(png); /* PNG is big endian; read as host order */
#endif
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int c = png_get_channels(png, info), depth = png_get_bit_depth(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  if ((double)(rowbytes + 1) * h > (double)size * PNG_MAX_RATIO)
    png_error(png, "the header declares more pixels than the file's compressed data can hold");
  raw = malloc(rowbytes * h);
  rows = malloc(sizeof(png_bytep) * h);
  pixels = malloc(sizeof(float) * (size_t)w * h * (size_t)c);
  if (!raw || !rows || !pixels) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + y * rowbytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  size_t n = (size_t)w * h * (size_t)c;
  if (depth == 16) {
    const uint16_t *p = (const uint16_t *)raw;
    for (size_t i = 0; i < n; i++) pixels[i] = p[i] * (scale / 65535.0f);
  } else {
    for (size_t i = 0; i < n; i++) pixels[i] = raw[i] * (scale / 255.0f);
  }
  out = to_tensor(pixels, h, w, c, channels, scale);
  png_destroy_read_struct(&png, &info, NULL);
  free(pixels), free(rows), free(raw);
  if (!out) return dnn_error(DNN_ENOMEM, LOAD, "%s: out of memory", path), NULL;
  return out;
}

/* ---- format detection by the first bytes ---- */

static const char *sniff(const unsigned char *d, size_t n) {
  static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && memcmp(d, png_magic, 8) == 0) return "PNG";
  if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return "JPEG";
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "BMP";
  if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return "GIF";
  if (n >= 4 && memcmp(d, "8BPS", 4) == 0) return "PSD";
  if (n >= 6 && (memcmp(d, "#?RADIANCE", n < 10 ? n : 10) == 0 || memcmp(d, "#?RGBE", 6) == 0)) return "HDR";
  if (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6')) return "PNM";
  if (n >= 4 && d[0] == 0x53 && d[1] == 0x80 && d[2] == 0xf6 && d[3] == 0x34) return "PIC";
  /* TGA has no magic: stb's own test (header fields in range) decides. */
  if (n >= 18 && (d[1] == 0 || d[1] == 1) && dnn_stb_is_tga(d, n)) return "TGA";
  return NULL;
}

/* The decoders other than PNG give floats; into a tensor of `channels`. */
static dnn_tensor *from_decoded(const char *name, dnn_status st, dnn_decoded d, int channels, float scale) {
  if (st != DNN_OK) return NULL;
  dnn_tensor *out = to_tensor(d.pixels, d.h, d.w, d.c, channels, scale);
  free(d.pixels);
  if (!out) return dnn_error(DNN_ENOMEM, LOAD, "%s: out of memory", name), NULL;
  return out;
}

dnn_tensor *dnn_image_load_memory(const void *bytes, size_t size, const char *name, int channels, bool uint8_range) {
  if (!name) name = "(memory)";
  if (!bytes && size) return dnn_argerror(1, LOAD, "expected image bytes, got nothing"), NULL;
  if (channels != 0 && channels != 1 && channels != 3 && channels != 4)
    return dnn_argerror(2, LOAD, "expected channels 1, 3 or 4, got %d", channels), NULL;
  const unsigned char *data = bytes;
  const char *format = sniff(data, size);
  float scale = uint8_range ? 255.0f : 1.0f;
  dnn_decoded d = {0};
  if (!format) {
    char head[64] = "";
    size_t k = 0;
    for (size_t i = 0; i < size && i < 8; i++) k += (size_t)snprintf(head + k, sizeof head - k, " %02x", data[i]);
    dnn_error(DNN_EFORMAT, LOAD, "%s: not a PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PNM or PIC file (%s%s)", name,
              size ? "starts with" : "the file is empty", head);
    return NULL;
  }
  if (strcmp(format, "PNG") == 0) return load_png(name, data, size, channels, scale);
  if (strcmp(format, "JPEG") == 0)
    return from_decoded(name, dnn_decode_jpeg(name, data, size, scale, &d), d, channels, scale);
  return from_decoded(name, dnn_decode_stb(name, format, data, size, scale, &d), d, channels, scale);
}

dnn_tensor *dnn_image_load(const char *path, int channels, bool uint8_range) {
  if (!path) return dnn_argerror(1, LOAD, "expected a path, got nothing"), NULL;
  if (channels != 0 && channels != 1 && channels != 3 && channels != 4)
    return dnn_argerror(2, LOAD, "expected channels 1, 3 or 4, got %d", channels), NULL;
  size_t size = 0;
  unsigned char *data = read_file(path, &size);
  if (!data) return NULL;
  dnn_tensor *out = dnn_image_load_memory(data, size, path, channels, uint8_range);
  free(data);
  return out;
}

/* ---- writing PNG ---- */

static void png_write_error(png_structp png, png_const_charp msg) {
  char *buf = png_get_error_ptr(png);
  snprintf(buf, 200, "%s", msg);
  png_longjmp(png, 1);
}

static dnn_status write_png(FILE *f, const uint8_t *pixels, png_uint_32 h, png_uint_32 w, int c, char *message) {
  static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                     PNG_COLOR_TYPE_RGB_ALPHA};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, png_write_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    snprintf(message, 200, "out of memory");
    return DNN_ENOMEM;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return DNN_EIO;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, 8, color_types[c], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (png_uint_32 y = 0; y < h; y++) png_write_row(png, pixels + (size_t)y * w * (size_t)c);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return DNN_OK;
}

dnn_status dnn_image_save_png(const dnn_tensor *img, const char *path) {
  if (!path) return dnn_argerror(2, SAVE, "expected a path, got nothing");
  if (!img) return dnn_argerror(1, SAVE, "expected an image tensor, got nothing");
  if (img->ndim == 4)
    return dnn_argerror(1, SAVE,
                        "expected one image (H, W, C), got a 4-d batch: make one image of it with "
                        "dnn.image.grid(batch) first");
  if (img->ndim != 2 && img->ndim != 3)
    return dnn_argerror(1, SAVE, "expected an image (H, W) or (H, W, C), got %d-d", img->ndim);
  int64_t h = img->shape[0], w = img->shape[1], c = img->ndim == 3 ? img->shape[2] : 1;
  if (c < 1 || c > 4)
    return dnn_argerror(1, SAVE, "expected 1 (gray), 2, 3 (RGB) or 4 (RGBA) channels, got %lld", (long long)c);
  if (h < 1 || w < 1 || h > (1 << 24) || w > (1 << 24))
    return dnn_argerror(1, SAVE, "expected an image of 1 to 2^24 rows and columns, got %lldx%lld", (long long)h,
                        (long long)w);
  size_t n = (size_t)(h * w * c);
  float *vals = malloc(sizeof(float) * n);
  uint8_t *pixels = malloc(n);
  if (!vals || !pixels) {
    free(vals), free(pixels);
    return dnn_error(DNN_ENOMEM, SAVE, "%s: out of memory", path);
  }
  dnn_gather_to(img, vals);
  for (size_t i = 0; i < n; i++) {
    float v = vals[i];
    v = v > 0 ? (v < 1 ? v : 1) : 0; /* NaN -> 0 */
    pixels[i] = (uint8_t)lrintf(v * 255.0f);
  }
  free(vals);
  size_t len = strlen(path) + 32;
  char *tmp = malloc(len);
  if (!tmp) {
    free(pixels);
    return dnn_error(DNN_ENOMEM, SAVE, "%s: out of memory", path);
  }
  snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
  dnn_status st = DNN_OK;
  char message[200] = "";
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    st = dnn_error(DNN_EIO, SAVE, "%s: cannot write: %s", path, strerror(errno));
  } else {
    st = write_png(f, pixels, (png_uint_32)h, (png_uint_32)w, (int)c, message);
    if (fflush(f) != 0 && st == DNN_OK) st = DNN_EIO, snprintf(message, sizeof message, "%s", strerror(errno));
    if (fclose(f) != 0 && st == DNN_OK) st = DNN_EIO, snprintf(message, sizeof message, "%s", strerror(errno));
    if (st == DNN_OK && rename(tmp, path) != 0)
      st = DNN_EIO, snprintf(message, sizeof message, "cannot rename the temporary file: %s", strerror(errno));
    if (st != DNN_OK) {
      remove(tmp);
      dnn_error(st, SAVE, "%s: %s", path, message);
    }
  }
  free(tmp);
  free(pixels);
  return st;
}
